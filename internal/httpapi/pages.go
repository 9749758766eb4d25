package httpapi

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/echt-dev/echt/internal/reasons"
	"github.com/echt-dev/echt/problem"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))

// pageData is what every page template gets.
type pageData struct {
	Lang  string
	Langs []string
	Title string
	T     map[string]string
	// NotFound: the page asked for does not exist (the index is shown
	// instead, under a heading that says so).
	NotFound bool
}

func (s *Server) pageBase(r *http.Request, title string) pageData {
	lang := reasons.Negotiate(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"))
	t := map[string]string{}
	for _, k := range []string{"reason", "error", "code", "meaning", "causes", "steps", "helpful", "yes", "no", "thanks", "send", "all_codes", "results_title", "genuine", "not_genuine", "not_activated", "grace", "product", "key", "checked_at", "why", "more_help", "unknown_verdict", "not_found", "language"} {
		t[k] = reasons.UI(lang, k)
	}
	return pageData{Lang: lang, Langs: reasons.Languages(), Title: title, T: t}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Vary", "Accept-Language")
	if name == "results.html" && w.Header().Get("Cache-Control") == "" {
		// A results page's address is the capability to see it.
		w.Header().Set("Cache-Control", "private, no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// helpPage serves /help/reasons/{code} and /help/errors/{code}.
func (s *Server) helpPage(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code := problem.Code(strings.ToUpper(r.PathValue("code")))
		base := s.pageBase(r, "")
		entry, ok := reasons.Lookup(code, base.Lang)
		if !ok {
			base.Title, base.NotFound = base.T["not_found"], true
			s.render(w, r, http.StatusNotFound, "index.html", struct {
				pageData
				Entries []reasons.Entry
			}{base, s.allEntries(base.Lang)})
			return
		}
		base.Title = entry.Title + " (" + string(code) + ")"
		k := base.T["reason"]
		if kind == "errors" {
			k = base.T["error"]
		}
		s.render(w, r, http.StatusOK, "help.html", struct {
			pageData
			Entry  reasons.Entry
			Code   problem.Code
			Kind   string
			Page   string
			Thanks bool
		}{base, entry, code, k, "/help/" + kind + "/" + string(code), r.URL.Query().Get("feedback") == "thanks"})
	}
}

func (s *Server) allEntries(lang string) []reasons.Entry {
	var out []reasons.Entry
	for _, c := range reasons.Codes() {
		e, _ := reasons.Lookup(c, lang)
		out = append(out, e)
	}
	return out
}

func (s *Server) helpIndex(w http.ResponseWriter, r *http.Request) {
	base := s.pageBase(r, "")
	base.Title = base.T["all_codes"]
	s.render(w, r, http.StatusOK, "index.html", struct {
		pageData
		Entries []reasons.Entry
	}{base, s.allEntries(base.Lang)})
}

// feedback counts a "Was this helpful?" answer, then sends the reader
// back to the page.
func (s *Server) feedback(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, problem.New(problem.InvalidRequest, "the form could not be read"))
		return
	}
	page := r.PostForm.Get("page")
	kind, code, ok := strings.Cut(strings.TrimPrefix(page, "/help/"), "/")
	code = strings.ToUpper(code) // as the pages themselves take it
	if !ok || (kind != "reasons" && kind != "errors") {
		s.fail(w, r, problem.New(problem.InvalidRequest, "page: not a help page"))
		return
	}
	if _, known := reasons.Lookup(problem.Code(code), reasons.DefaultLang); !known {
		s.fail(w, r, problem.New(problem.InvalidRequest, "page: no such help page"))
		return
	}
	// One page, one count, however the form named it.
	page = "/help/" + kind + "/" + code
	helpful := r.PostForm.Get("helpful")
	if helpful != "yes" && helpful != "no" {
		s.fail(w, r, problem.New(problem.InvalidRequest, "helpful: yes or no"))
		return
	}
	lang := reasons.Negotiate(r.PostForm.Get("lang"), "")
	if err := s.st.RecordFeedback(r.Context(), page, lang, helpful == "yes"); err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.feedback.WithLabelValues(page, helpful).Inc()
	http.Redirect(w, r, page+"?lang="+url.QueryEscape(lang)+"&feedback=thanks", http.StatusSeeOther)
}

// results shows a verdict to the person: why, and how to fix it.
func (s *Server) results(w http.ResponseWriter, r *http.Request) {
	p, err := s.validation.ParsePageToken(r.PathValue("id"))
	base := s.pageBase(r, "")
	if err != nil {
		base.Title, base.NotFound = base.T["unknown_verdict"], true
		s.render(w, r, http.StatusNotFound, "results.html", struct {
			pageData
			Headline, Class, Checked string
			Bad                      bool
			Page                     any
			Entry                    reasons.Entry
		}{base, base.T["unknown_verdict"], "warn", "", false, struct{ Product, Edition, PartialKey, Reason, Remedy string }{}, reasons.Entry{}})
		return
	}
	if r.URL.Query().Get("lang") == "" && r.Header.Get("Accept-Language") == "" && p.Lang != "" {
		base = s.pageBase(&http.Request{URL: &url.URL{RawQuery: "lang=" + url.QueryEscape(p.Lang)}, Header: http.Header{}}, "")
	}
	entry, _ := reasons.Lookup(problem.Code(p.Reason), base.Lang)
	headline, class := base.T["genuine"], "ok"
	switch p.Status {
	case "NOT_GENUINE":
		headline, class = base.T["not_genuine"], "bad"
	case "NOT_ACTIVATED":
		headline, class = base.T["not_activated"], "bad"
	case "GRACE":
		headline, class = base.T["grace"], "warn"
	}
	base.Title = base.T["results_title"]
	// The verdict's remedy was written in the verdict's language; in the
	// page's, keep only what it adds to the catalogue's (the original key
	// of a repair).
	if key := reasons.NamedKey(p.Remedy); key != "" {
		p.Remedy = reasons.Remedy(problem.Code(p.Reason), base.Lang) + key
	}
	s.render(w, r, http.StatusOK, "results.html", struct {
		pageData
		Headline, Class, Checked string
		Bad                      bool
		Page                     any
		Entry                    reasons.Entry
	}{base, headline, class, p.CheckedAt.UTC().Format(time.RFC3339), p.Status != "GENUINE", p, entry})
}

// FeedbackView is a line of the feedback report.
type FeedbackView struct {
	Page string `json:"page"`
	Lang string `json:"lang"`
	Yes  int64  `json:"yes"`
	No   int64  `json:"no"`
}

func (s *Server) feedbackReport(w http.ResponseWriter, r *http.Request) {
	fs, err := s.st.Feedback(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]FeedbackView, 0, len(fs))
	for _, f := range fs {
		out = append(out, FeedbackView{Page: f.Page, Lang: f.Lang, Yes: f.Yes, No: f.No})
	}
	reply(w, http.StatusOK, out)
}
