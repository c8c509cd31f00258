// Command netpollorder shows the order in which Go's runtime runs goroutines whose
// sockets became readable in the same poll of its netpoller. With GOMAXPROCS=1, n
// goroutines block reading n loopback connections; the connections are then made
// readable in the order 0..n-1 while the goroutines are parked, and the program prints
// the order in which they ran, and how many pairs ran in the reverse of their readiness
// order.
//
// It explains part of edge's latency tail against nginx (docs/benchmarks.md, "What the
// p99 gap is"): nginx handles epoll's ready list first-in first-out, Go's netpoller
// hands the batch to the scheduler last-in first-out, so in a batch of k ready
// connections the one that became ready first waits for the k-1 after it.
//
//	go run ./netpollorder -conns 64 -rounds 20
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	conns := flag.Int("conns", 64, "connections made readable in one batch")
	rounds := flag.Int("rounds", 20, "batches")
	flag.Parse()
	if err := run(*conns, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "netpollorder:", err)
		os.Exit(1)
	}
}

func run(n, rounds int) error {
	runtime.GOMAXPROCS(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	clients := make([]net.Conn, n)
	servers := make([]net.Conn, n)
	for i := range n {
		if clients[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			return err
		}
		if servers[i], err = ln.Accept(); err != nil {
			return err
		}
	}
	reversed, pairs := 0, 0
	for round := range rounds {
		order, err := oneBatch(clients, servers)
		if err != nil {
			return err
		}
		for a := range order {
			for b := a + 1; b < len(order); b++ {
				pairs++
				if order[a] > order[b] {
					reversed++
				}
			}
		}
		if round == 0 {
			fmt.Println("readable in order 0..n-1; ran in order:", order)
		}
	}
	fmt.Printf("pairs that ran in the reverse of their readiness order: %d of %d (%.0f%%)\n",
		reversed, pairs, 100*float64(reversed)/float64(max(pairs, 1)))
	return nil
}

// oneBatch parks one reader per server connection, makes the connections readable in
// index order, and returns the order in which the readers ran.
func oneBatch(clients, servers []net.Conn) ([]int, error) {
	var (
		mu    sync.Mutex
		order []int
		errs  []error
		wg    sync.WaitGroup
	)
	for i, s := range servers {
		wg.Go(func() {
			b := make([]byte, 1)
			_, err := s.Read(b)
			mu.Lock()
			order = append(order, i)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	time.Sleep(20 * time.Millisecond) // every reader has read EAGAIN and parked
	for _, c := range clients {
		if _, err := c.Write([]byte{1}); err != nil {
			return nil, err
		}
	}
	// This goroutine now blocks; the scheduler finds all readers in one netpoll.
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return order, nil
}
