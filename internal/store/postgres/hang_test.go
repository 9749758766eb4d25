package postgres_test

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/storetest"
)

// hangingProxy forwards TCP connections to target until freeze is called;
// from then on it forwards nothing but keeps every connection open, as a
// network path that drops packets without a reset does.
type hangingProxy struct {
	ln     net.Listener
	flow   sync.RWMutex // held for writing once frozen
	mu     sync.Mutex
	conns  []net.Conn
	frozen bool
}

func startHangingProxy(t *testing.T, target string) *hangingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangingProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		frozen := p.frozen
		p.mu.Unlock()
		if frozen {
			p.flow.Unlock()
		}
	})
	return p
}

func (p *hangingProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.flow.RLock()
			_, werr := dst.Write(buf[:n])
			p.flow.RUnlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *hangingProxy) freeze() {
	p.flow.Lock()
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// A node whose connections hang (no reset, no answer) stops trusting its
// caches within about a second: Watch reports ChangeWatchDown, although
// the LISTEN connection never fails by itself. It used to wait 30 s of
// silence before it even asked.
func TestWatchNoticesAHangingConnection(t *testing.T) {
	direct := storetest.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	p := startHangingProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	s := openURL(t, u.String())
	defer s.Close()
	w := watch(t, s)
	waitListening(t, s, w)

	p.freeze()
	// Generous against a slow machine, far below the 30 s it took.
	expect(t, w, store.Change{Kind: store.ChangeWatchDown}, 8*time.Second)
}
