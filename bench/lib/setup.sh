# shellcheck shell=bash
# Generates what every peer serves: the TLS certificate (one for all peers) and the
# static files, and starts the upstream. Sourced through bench/lib/prologue.sh; needs $WORK.

# start_upstream: runs $WORK/bin/upstream (built from bench/upstream; BENCH_UPSTREAM=nginx:
# nginx instead, see start_nginx_upstream) on two free ports,
# blue on UP_BLUE and green on UP_GREEN, pinned to LOAD_CPU with GOMAXPROCS=1, and waits
# until it answers. Its log is $WORK/upstream.log; stop_all stops it (PID[upstream]).
start_upstream() {
  next_port; UP_BLUE=$NEXT_PORT
  next_port; UP_GREEN=$NEXT_PORT
  if [ "${BENCH_UPSTREAM:-go}" = nginx ]; then
    start_nginx_upstream
    return
  fi
  pinned "$LOAD_CPU" "$WORK/bin/upstream" -listen "127.0.0.1:$UP_BLUE,127.0.0.1:$UP_GREEN" -names blue,green
  GOMAXPROCS=1 "${PINNED[@]}" >"$WORK/upstream.log" 2>&1 &
  PID[upstream]=$!
  wait_http "http://127.0.0.1:$UP_BLUE/health" 10 || die "the upstream did not start: $(cat "$WORK/upstream.log")"
}

# start_nginx_upstream (BENCH_UPSTREAM=nginx): the same three answers as bench/upstream,
# served by nginx the way a real app server answers: with Date, Server and Content-Type,
# and closing a kept-alive connection after 1,000 requests (nginx's default
# keepalive_requests), so the proxies' upstream pools must reconnect under load.
start_nginx_upstream() {
  local d=$WORK/upstream-nginx c
  mkdir -p "$d/tmp" "$d/blue" "$d/green"
  for c in blue green; do
    { head -c 99 /dev/zero | tr '\0' 's'; echo; } >"$d/$c/small"
    { head -c 102399 /dev/zero | tr '\0' 'b'; echo; } >"$d/$c/big"
    echo ok >"$d/$c/health"
  done
  chmod -R a+rX "$d"
  cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 10000; }
http {
  access_log off;
  keepalive_requests 1000;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  default_type "text/plain; charset=utf-8";
  server {
    listen 127.0.0.1:$UP_BLUE;
    add_header X-Upstream blue;
    location ~ /(small|big|health)\$ { root $d/blue; try_files /\$1 =404; }
    location / { root $d/blue; try_files /small =404; }
  }
  server {
    listen 127.0.0.1:$UP_GREEN;
    add_header X-Upstream green;
    location ~ /(small|big|health)\$ { root $d/green; try_files /\$1 =404; }
    location / { root $d/green; try_files /small =404; }
  }
}
EOF
  pinned "$LOAD_CPU" nginx -c "$d/nginx.conf" -p "$d"
  "${PINNED[@]}" >"$WORK/upstream.log" 2>&1 &
  PID[upstream]=$!
  wait_http "http://127.0.0.1:$UP_BLUE/health" 10 ||
    die "the nginx upstream did not start: $(cat "$WORK/upstream.log" "$d/error.log" 2>/dev/null)"
}

# gen_certs: a private CA and a server certificate (ECDSA P-256, the usual ACME default)
# for localhost and 127.0.0.1, in $WORK/certs. haproxy.pem is cert+key in one file.
gen_certs() {
  local d=$WORK/certs
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3 \
    -subj "/CN=edge bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null || die "openssl could not make the CA certificate"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || die "openssl could not make a key"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3 -extfile "$d/ext.cnf" -out "$d/server.pem" 2>/dev/null || die "openssl could not sign the server certificate"
  cat "$d/server.pem" "$d/server.key" >"$d/haproxy.pem"
  chmod 644 "$d"/*.pem "$d"/*.key
}

# gen_static: $WORK/www with 1k.bin and 100k.bin (fixed pseudo-random bytes) and an index.
gen_static() {
  local d=$WORK/www
  mkdir -p "$d"
  head -c 1024 /dev/urandom >"$d/1k.bin"
  head -c 102400 /dev/urandom >"$d/100k.bin"
  printf '<!doctype html><title>bench</title>\n' >"$d/index.html"
  chmod 755 "$WORK" "$d"
  chmod 644 "$d"/*
}

# machine_info FILE: key=value lines describing this box and the software measured.
machine_info() {
  local f=$1 model mem
  model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  {
    echo "cpu_model=${model:-unknown}"
    echo "cpu_detail=$(lscpu 2>/dev/null | awk -F': +' '
      /^CPU family/ {f = $2} /^Model:/ {m = $2} /^L3 cache/ {l3 = $2}
      /^Hypervisor vendor/ {h = $2}
      END {printf "family %s model %s, L3 %s%s", f, m, l3, (h != "" ? ", " h " guest" : "")}')"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -sr)"
    echo "memory=$mem"
    echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "go=$(go version 2>/dev/null | awk '{print $3}')"
    echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||')"
    echo "haproxy=$(haproxy -v 2>&1 | head -1 | awk '{print $3}')"
    echo "caddy=$(caddy version 2>/dev/null | awk '{print $1}')"
    echo "openssl=$(openssl version | awk '{print $2}')"
    if [ -x "$EDGE_BIN" ]; then
      echo "edge=$("$EDGE_BIN" version 2>/dev/null | head -1)"
    else
      echo "edge=not built"
    fi
  } >"$f"
}
