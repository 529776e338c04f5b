package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	// App names the application in page titles.
	App string
	// Source is what the pages show; required.
	Source Source
	// Actions run rollback and stop; nil, or ReadOnly, hides them and
	// refuses every state-changing request.
	Actions  Actions
	ReadOnly bool
	// Listen is the address the server is reached at; on a loopback
	// address only requests naming a loopback host are served.
	Listen string
	// Key is the access key a browser opens the address with (a random
	// one when empty); without it, no page is served.
	Key string
	// ActionTimeout bounds one rollback or stop (default 10 minutes); it
	// goes on when the browser leaves the page.
	ActionTimeout time.Duration
	// Debounce is how long live updates wait for more changes before
	// re-reading (default 250 ms).
	Debounce time.Duration
	// Logf receives errors that are not shown on a page (nil: dropped).
	Logf func(format string, args ...any)
}

// Server serves the pages. It is an http.Handler.
type Server struct {
	opts     Options
	sessions *sessions
	pages    *pages
	hub      *hub
	mux      *http.ServeMux
	loopback bool
	closed   chan struct{} // closed by Close: event streams end
	once     sync.Once
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	if opts.Source == nil {
		return nil, errors.New("ui: no Source")
	}
	if opts.Actions == nil {
		opts.ReadOnly = true
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 10 * time.Minute
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 250 * time.Millisecond
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, sessions: newSessions(opts.Key), pages: p, mux: http.NewServeMux(), closed: make(chan struct{})}
	s.hub = newHub(opts.Source, opts.Logf)
	s.loopback = ListenLoopback(opts.Listen)
	s.routes()
	return s, nil
}

// ListenLoopback reports whether addr (host:port) is on a loopback
// interface; an empty host means every interface, which is not.
func ListenLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return host != "" && loopbackHost(host)
}

// Key is the access key; URL puts it into the address to open.
func (s *Server) Key() string { return s.sessions.key }

// URL is the address to open in a browser for a server reached at base
// (http://host:port): it carries the access key.
func (s *Server) URL(base string) string {
	return base + "/?key=" + url.QueryEscape(s.sessions.key)
}

// Close ends the event streams of open pages and stops live updates.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.hub.close()
}

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/environments", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /environments", s.environments)
	s.mux.HandleFunc("GET /environments/{name}/{namespace}", s.environment)
	s.mux.HandleFunc("GET /environments/{name}/{namespace}/diff", s.diff)
	s.mux.HandleFunc("GET /environments/{name}/{namespace}/rollback", s.confirmRollback)
	s.mux.HandleFunc("POST /environments/{name}/{namespace}/rollback", s.rollback)
	s.mux.HandleFunc("GET /environments/{name}/{namespace}/stop", s.confirmStop)
	s.mux.HandleFunc("POST /environments/{name}/{namespace}/stop", s.stop)
	s.mux.HandleFunc("GET /releases", s.releases)
	s.mux.HandleFunc("GET /events", s.events)
}

// ServeHTTP checks the Host, opens a session for a request carrying the
// access key, refuses requests without a session, and serves the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make browsers send Origin: null
	h.Set("Cache-Control", "no-store")
	if !hostAllowed(s.loopback, r) {
		http.Error(w, "skiff ui: this server answers only to a loopback host name (127.0.0.1, localhost)", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path == "/static/app.css" || r.URL.Path == "/static/app.js" {
		s.mux.ServeHTTP(w, r)
		return
	}
	if key := r.URL.Query().Get("key"); key != "" && r.Method == http.MethodGet {
		if !equal(key, s.sessions.key) {
			s.pages.status(w, http.StatusUnauthorized, "Wrong access key", "The address carries an access key that is not this server's. Open the address skiff ui printed.")
			return
		}
		se := s.sessions.start()
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: se.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		q := r.URL.Query()
		q.Del("key")
		target := r.URL.Path
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if s.sessions.of(r) == nil {
		s.pages.status(w, http.StatusUnauthorized, "Open the address skiff ui printed",
			"This server shows what runs in your clusters with your credentials, so it serves only browsers that opened the address skiff ui printed (it carries an access key).")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// view is what every page template gets.
type view struct {
	App      string
	Title    string
	Nav      string // environments or releases
	ReadOnly bool
	Token    string
	Flash    string
	Live     string // the /events query of a page that updates live
	Data     any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, page, title, nav string, data any) {
	se := s.sessions.of(r)
	v := view{App: s.opts.App, Title: title, Nav: nav, ReadOnly: s.opts.ReadOnly, Data: data}
	if se != nil {
		v.Token = se.token
		v.Flash = s.sessions.takeFlash(se)
	}
	if l, ok := data.(interface{ live() string }); ok {
		v.Live = l.live()
	}
	var buf bytes.Buffer
	if err := s.pages.execute(&buf, page, v); err != nil {
		s.opts.Logf("rendering %s: %v", page, err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// fail shows err on an error page: 404 for unknown things, else 502 (the
// cluster or registry did not answer as expected).
func (s *Server) fail(w http.ResponseWriter, what string, err error) {
	code := http.StatusBadGateway
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	}
	if !errors.Is(err, context.Canceled) {
		s.opts.Logf("%s: %v", what, err)
	}
	s.pages.status(w, code, what, err.Error())
}

func idOf(r *http.Request) ID {
	return ID{Name: r.PathValue("name"), Namespace: r.PathValue("namespace")}
}

// envPath is the path of an environment's page.
func envPath(id ID) string {
	return fmt.Sprintf("/environments/%s/%s", url.PathEscape(id.Name), url.PathEscape(id.Namespace))
}
