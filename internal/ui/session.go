package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// sessionCookie carries the browser's session id; it is HttpOnly and
// SameSite=Strict, so pages of other sites can neither read nor send it.
const sessionCookie = "skiff_session"

// maxSessions bounds the sessions kept in memory; the oldest goes first.
const maxSessions = 64

// session is one browser's: the token its forms carry and a message to
// show on its next page.
type session struct {
	id    string
	token string
	flash string
}

// sessions are the browsers that opened the address with the access key.
type sessions struct {
	key string // the access key printed with the address

	mu    sync.Mutex
	byID  map[string]*session
	order []string
}

func newSessions(key string) *sessions {
	if key == "" {
		key = randomHex(24)
	}
	return &sessions{key: key, byID: map[string]*session{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// start makes a new session.
func (s *sessions) start() *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := &session{id: randomHex(24), token: randomHex(24)}
	s.byID[se.id] = se
	s.order = append(s.order, se.id)
	if len(s.order) > maxSessions {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	return se
}

// of returns the request's session, or nil.
func (s *sessions) of(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[c.Value]
}

func (s *sessions) setFlash(se *session, msg string) {
	s.mu.Lock()
	se.flash = msg
	s.mu.Unlock()
}

func (s *sessions) takeFlash(se *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := se.flash
	se.flash = ""
	return msg
}

// validToken reports whether a state-changing request carries its
// session's token.
func (se *session) validToken(r *http.Request) bool {
	return se != nil && equal(r.PostFormValue("token"), se.token)
}

// loopbackHost reports whether host (no port) names this machine's
// loopback interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed guards a server on loopback against DNS rebinding: a page of
// another site whose name now resolves to 127.0.0.1 sends its own name as
// Host, and is refused.
func hostAllowed(listenLoopback bool, r *http.Request) bool {
	if !listenLoopback {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	return loopbackHost(strings.Trim(host, "[]"))
}

// sameOrigin reports whether a state-changing request comes from this
// server's own pages: browsers send Origin with every POST, and Sec-Fetch-Site
// says whether a request crossed sites.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == "" // no Origin: not a browser's cross-site form
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
