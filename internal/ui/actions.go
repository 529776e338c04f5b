package ui

import (
	"context"
	"fmt"
	"net/http"
)

// confirmPage is a confirmation page's data.
type confirmPage struct {
	Env    Environment
	Target Revision // the revision to roll back to
	Token  string
}

// allowAction refuses actions in read-only mode and state-changing
// requests without their session's token or from another site.
func (s *Server) allowAction(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.ReadOnly {
		s.pages.status(w, http.StatusForbidden, "Read-only", "skiff ui runs read-only (--read-only): it shows environments but does not change them.")
		return false
	}
	if r.Method != http.MethodPost {
		return true
	}
	if !sameOrigin(r) {
		s.pages.status(w, http.StatusForbidden, "Refused", "This request did not come from skiff ui's own page.")
		return false
	}
	if !s.sessions.of(r).validToken(r) {
		s.pages.status(w, http.StatusForbidden, "Refused", "The request does not carry this session's token. Go back, reload the page and confirm again.")
		return false
	}
	return true
}

func (s *Server) confirmRollback(w http.ResponseWriter, r *http.Request) {
	if !s.allowAction(w, r) {
		return
	}
	id := idOf(r)
	rev, err := positive(r.URL.Query().Get("revision"))
	if err != nil {
		s.pages.status(w, http.StatusBadRequest, "Which revision?", "Give the revision to roll back to (1 or more).")
		return
	}
	e, err := s.opts.Source.Environment(r.Context(), id)
	if err != nil {
		s.fail(w, "Reading environment "+id.Name, err)
		return
	}
	hist, err := s.opts.Source.History(r.Context(), id)
	if err != nil {
		s.fail(w, "Reading the history of "+id.Name, err)
		return
	}
	page := confirmPage{Env: e, Token: s.sessions.of(r).token}
	found := false
	for _, h := range hist {
		if h.Revision == rev {
			page.Target, found = h, true
		}
	}
	if !found {
		s.pages.status(w, http.StatusNotFound, "No such revision", fmt.Sprintf("Environment %s (namespace %s) has no revision %d.", id.Name, id.Namespace, rev))
		return
	}
	s.render(w, r, "confirm-rollback", fmt.Sprintf("Roll back %s to revision %d", e.Name, rev), "environments", page)
}

// detached is a context for an action that goes on when the browser
// leaves, bounded by the action timeout.
func (s *Server) detached(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.ActionTimeout)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	if !s.allowAction(w, r) {
		return
	}
	id := idOf(r)
	rev, err := positive(r.PostFormValue("revision"))
	if err != nil {
		s.pages.status(w, http.StatusBadRequest, "Which revision?", "Give the revision to roll back to (1 or more).")
		return
	}
	ctx, cancel := s.detached(r)
	defer cancel()
	msg, err := s.opts.Actions.Rollback(ctx, id, rev, r.PostFormValue("approve") == "yes")
	se := s.sessions.of(r)
	if err != nil {
		s.opts.Logf("rolling back %s (namespace %s) to revision %d: %v", id.Name, id.Namespace, rev, err)
		s.sessions.setFlash(se, fmt.Sprintf("Rollback to revision %d failed: %v", rev, err))
	} else {
		s.sessions.setFlash(se, msg)
	}
	http.Redirect(w, r, envPath(id), http.StatusSeeOther)
}

func (s *Server) confirmStop(w http.ResponseWriter, r *http.Request) {
	if !s.allowAction(w, r) {
		return
	}
	id := idOf(r)
	e, err := s.opts.Source.Environment(r.Context(), id)
	if err != nil {
		s.fail(w, "Reading environment "+id.Name, err)
		return
	}
	if !e.Dynamic {
		s.pages.status(w, http.StatusConflict, "Not a review environment", fmt.Sprintf("Environment %s is not dynamic; it is never stopped.", id.Name))
		return
	}
	s.render(w, r, "confirm-stop", "Stop "+e.Name+" "+e.Namespace, "environments", confirmPage{Env: e, Token: s.sessions.of(r).token})
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	if !s.allowAction(w, r) {
		return
	}
	id := idOf(r)
	ctx, cancel := s.detached(r)
	defer cancel()
	msg, err := s.opts.Actions.Stop(ctx, id)
	se := s.sessions.of(r)
	if err != nil {
		s.opts.Logf("stopping %s (namespace %s): %v", id.Name, id.Namespace, err)
		s.sessions.setFlash(se, fmt.Sprintf("Stopping %s (namespace %s) failed: %v", id.Name, id.Namespace, err))
		http.Redirect(w, r, envPath(id), http.StatusSeeOther)
		return
	}
	s.sessions.setFlash(se, msg)
	http.Redirect(w, r, "/environments", http.StatusSeeOther)
}
