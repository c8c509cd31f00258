package config

// Pos is where one value was written. The decoder fills it in as it reads the value;
// the validator and reload report at it. A zero Pos means the value was not in the file
// (a default), so a message about it names the file without a line.
type Pos struct {
	Line int
	// Bad is set when the value could not be decoded. That error is already reported,
	// and a further complaint about the empty value would only be noise.
	Bad bool
}

// Positions holds a Pos for each value that a later check reports about. They are
// typed fields rather than a map keyed by path, so a misspelt path fails to compile
// instead of silently reporting line 0.
type Positions struct {
	StateDir, AdminSocket, Metrics, AccessLog Pos
	ListenHTTP, ListenHTTPS                   Pos
	TLSEmail, TLSCA, TLSCARoot, TLSHSTS       Pos
	Limits                                    Pos
	Chat, ChatDatabaseURL, ChatOrigins        Pos
	ChatNicknameLocale, ChatSecret            Pos
	ChatFilter                                Pos
	Cluster, ClusterDatabaseURL               Pos
	ClusterName, ClusterHeartbeat             Pos
	// Apps and Sites run parallel to Proxy.Apps and Proxy.Sites; the decoder appends to
	// both together. Use App(i) and Site(i), which are safe on a hand-built Config.
	Apps  []AppPositions
	Sites []SitePositions
}

// AppPositions is where apps.NAME and its checked keys were written.
type AppPositions struct {
	Name, Blue, Green, Health Pos
	// BlueItems and GreenItems run parallel to the replica lists.
	BlueItems, GreenItems []Pos
}

// SitePositions is where sites[i], each of its hosts and each of its routes were written.
type SitePositions struct {
	Site     Pos
	Redirect Pos
	Hosts    []Pos // parallel to SiteConfig.Hosts
	Routes   []Pos // parallel to SiteConfig.Routes
}

// App is the positions of Proxy.Apps[i], or zero ones for an app not from a file.
func (p *Positions) App(i int) AppPositions {
	if i < 0 || i >= len(p.Apps) {
		return AppPositions{}
	}
	return p.Apps[i]
}

// Site is the positions of Proxy.Sites[i], or zero ones for a site not from a file.
func (p *Positions) Site(i int) SitePositions {
	if i < 0 || i >= len(p.Sites) {
		return SitePositions{}
	}
	return p.Sites[i]
}

// Host is the position of the site's j-th host.
func (s SitePositions) Host(j int) Pos { return at(s.Hosts, j) }

// Route is the position of the site's j-th route.
func (s SitePositions) Route(j int) Pos { return at(s.Routes, j) }

func at(ps []Pos, i int) Pos {
	if i < 0 || i >= len(ps) {
		return Pos{}
	}
	return ps[i]
}
