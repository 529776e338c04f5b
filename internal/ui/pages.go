package ui

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// pages are the parsed templates: one set per page, each with the layout.
type pages struct {
	set map[string]*template.Template
}

var pageNames = []string{"environments", "environment", "diff", "confirm-rollback", "confirm-stop", "releases", "status"}

var funcs = template.FuncMap{
	"envPath": envPath,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04")
	},
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"shortImage": shortImage,
	"shortDigest": func(ref string) string {
		if _, d, ok := strings.Cut(ref, "@sha256:"); ok && len(d) >= 12 {
			return "sha256:" + d[:12]
		}
		return ref
	},
	"safeURL": safeURL,
	"healthClass": func(state string) string {
		switch state {
		case "healthy", "failed", "progressing", "missing":
			return "health-" + state
		}
		return "health-other"
	},
	"statusClass": func(s string) string { return "status-" + strings.ToLower(s) },
	"add":         func(a, b int) int { return a + b },
	"diffLines":   diffLines,
	"breakable":   breakable,
	"hostOf": func(s string) string {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			return strings.TrimSuffix(u.Host+u.Path, "/")
		}
		return s
	},
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
}

func parsePages() (*pages, error) {
	p := &pages{set: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/fragments.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parsing the %s page: %w", name, err)
		}
		p.set[name] = t
	}
	return p, nil
}

func (p *pages) execute(w io.Writer, page string, v view) error {
	t, ok := p.set[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	return t.Execute(w, v)
}

// fragment renders one named template of page (a table body that live
// updates replace) with data.
func (p *pages) fragment(w io.Writer, page, name string, data any) error {
	return p.set[page].ExecuteTemplate(w, name, data)
}

// status writes a short page that explains a refusal or an error.
func (p *pages) status(w http.ResponseWriter, code int, title, detail string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = p.execute(w, "status", view{Title: title, Data: struct {
		Code   int
		Detail string
	}{code, detail}})
}

// safeURL lets only http and https links through: an environment URL
// comes from the cluster, and a javascript: link must not become one.
func safeURL(s string) template.URL {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return template.URL(u.String())
}

// shortImage names an image by repository and short digest.
func shortImage(img string) string {
	repo, digest, ok := strings.Cut(img, "@sha256:")
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		repo = repo[i+1:]
	}
	if ok && len(digest) >= 12 {
		return strings.SplitN(repo, ":", 2)[0] + "@sha256:" + digest[:12]
	}
	return repo
}

func (fragmentData) live() string { return "view=environments" }

func (s *Server) environments(w http.ResponseWriter, r *http.Request) {
	rows, err := s.opts.Source.Environments(r.Context())
	if err != nil {
		s.fail(w, "Reading the environments", err)
		return
	}
	s.render(w, r, "environments", "Environments", "environments", fragmentData{Rows: rows, ReadOnly: s.opts.ReadOnly})
}

// envDetail is the environment page's data.
type envDetail struct {
	Env      Environment
	History  []Revision // newest first
	Objects  []Object
	ReadOnly bool
	Token    string
}

func (d envDetail) live() string {
	return "view=environment&name=" + url.QueryEscape(d.Env.Name) + "&namespace=" + url.QueryEscape(d.Env.Namespace)
}

func (s *Server) detail(r *http.Request, id ID) (envDetail, error) {
	ctx := r.Context()
	e, err := s.opts.Source.Environment(ctx, id)
	if err != nil {
		return envDetail{}, err
	}
	d := envDetail{Env: e, ReadOnly: s.opts.ReadOnly}
	if se := s.sessions.of(r); se != nil {
		d.Token = se.token
	}
	if !e.Exists {
		return d, nil
	}
	hist, err := s.opts.Source.History(ctx, id)
	if err != nil {
		return envDetail{}, err
	}
	for i := len(hist) - 1; i >= 0; i-- {
		d.History = append(d.History, hist[i])
	}
	if d.Objects, err = s.opts.Source.Inventory(ctx, id); err != nil {
		return envDetail{}, err
	}
	return d, nil
}

func (s *Server) environment(w http.ResponseWriter, r *http.Request) {
	d, err := s.detail(r, idOf(r))
	if err != nil {
		s.fail(w, "Reading environment "+idOf(r).Name, err)
		return
	}
	s.render(w, r, "environment", "Environment "+d.Env.Name, "environments", d)
}

// diffPage is the diff page's data.
type diffPage struct {
	Env      Environment
	From, To int
	Objects  []ObjectDiff
	Changed  int
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) {
	id := idOf(r)
	from, errF := positive(r.URL.Query().Get("from"))
	to, errT := positive(r.URL.Query().Get("to"))
	if errF != nil || errT != nil {
		s.pages.status(w, http.StatusBadRequest, "Which revisions?", "Give two revision numbers: from and to (1 or more).")
		return
	}
	e, err := s.opts.Source.Environment(r.Context(), id)
	if err != nil {
		s.fail(w, "Reading environment "+id.Name, err)
		return
	}
	objs, err := s.opts.Source.Diff(r.Context(), id, from, to)
	if err != nil {
		s.fail(w, fmt.Sprintf("Comparing revisions %d and %d", from, to), err)
		return
	}
	d := diffPage{Env: e, From: from, To: to, Objects: objs}
	for _, o := range objs {
		if o.Change != DiffUnchanged {
			d.Changed++
		}
	}
	s.render(w, r, "diff", fmt.Sprintf("%s: revision %d → %d", e.Name, from, to), "environments", d)
}

func positive(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != strings.TrimSpace(s) {
		return 0, fmt.Errorf("not a revision: %q", s)
	}
	return n, nil
}

// releasesPage is the releases page's data.
type releasesPage struct {
	Releases []releaseRow
}

type releaseRow struct {
	Release
	DeployedTo []Environment
}

func (s *Server) releases(w http.ResponseWriter, r *http.Request) {
	rels, err := s.opts.Source.Releases(r.Context())
	if err != nil {
		s.fail(w, "Reading the releases", err)
		return
	}
	envs, err := s.opts.Source.Environments(r.Context())
	if err != nil {
		s.fail(w, "Reading the environments", err)
		return
	}
	var page releasesPage
	for _, rel := range rels {
		row := releaseRow{Release: rel}
		for _, e := range envs {
			if e.Revision > 0 && e.Version == rel.Tag && (rel.Commit == "" || e.Commit == "" || e.Commit == rel.Commit) {
				row.DeployedTo = append(row.DeployedTo, e)
			}
		}
		page.Releases = append(page.Releases, row)
	}
	s.render(w, r, "releases", "Releases", "releases", page)
}

// diffLine is one line of a unified diff with the class that colours it.
type diffLine struct{ Class, Text string }

func diffLines(unified string) []diffLine {
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(unified, "\n"), "\n") {
		c := "ctx"
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			c = "file"
		case strings.HasPrefix(l, "@@"):
			c = "hunk"
		case strings.HasPrefix(l, "+"):
			c = "add"
		case strings.HasPrefix(l, "-"):
			c = "del"
		}
		out = append(out, diffLine{c, l})
	}
	return out
}

// breakable lets a long name (a host, a namespace) wrap after its dots,
// dashes and slashes instead of anywhere.
func breakable(s string) template.HTML {
	var b strings.Builder
	for _, r := range s {
		b.WriteString(template.HTMLEscapeString(string(r)))
		if r == '.' || r == '-' || r == '/' {
			b.WriteString("<wbr>")
		}
	}
	return template.HTML(b.String())
}
