package faults

import (
	"io"
	"net"
	"sync"
	"time"
)

// apiProxy sits between the manager and the kube-apiserver, so that the suite can cut the
// manager's connections (watches included) and refuse new ones for a while, as a network
// partition or an apiserver restart would.
type apiProxy struct {
	target string
	ln     net.Listener

	mu          sync.Mutex
	conns       map[net.Conn]struct{}
	refuseUntil time.Time
	refused     int
}

func newAPIProxy(target string) (*apiProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

func (p *apiProxy) Addr() string { return p.ln.Addr().String() }

func (p *apiProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if time.Now().Before(p.refuseUntil) {
			p.refused++
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *apiProxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		p.forget(c)
		return
	}
	p.mu.Lock()
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); p.forget(u) }()
	_, _ = io.Copy(c, u)
	p.forget(c)
}

func (p *apiProxy) forget(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Drop closes every connection through the proxy and refuses new ones for d.
func (p *apiProxy) Drop(d time.Duration) (closed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuseUntil = time.Now().Add(d)
	for c := range p.conns {
		_ = c.Close()
		closed++
	}
	clear(p.conns)
	return closed
}

func (p *apiProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *apiProxy) Close() error { _ = p.Drop(0); return p.ln.Close() }
