package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// view is what every page template gets: the session (nil on the sign-in
// and error pages), its CSRF token, the confirmation of the last action,
// and the page's own data as D.
type view struct {
	S     *session
	CSRF  string
	Flash string
	D     any
}

var funcs = template.FuncMap{
	"when":       when,
	"ms":         func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) },
	"join":       strings.Join,
	"prettyJSON": prettyJSON,
	"headers":    sortedHeaders,
	"pct": func(n, of int64) string {
		if of == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
	},
	"noSchedule": func(ds []time.Duration) bool { return ds == nil },
	"durations": func(ds []time.Duration) string {
		s := make([]string, len(ds))
		for i, d := range ds {
			s[i] = d.String()
		}
		return strings.Join(s, ", ")
	},
}

// when renders t as a <time> element: UTC in the text and the title, which
// a small script turns into the viewer's zone (keeping UTC on hover).
func when(t time.Time) template.HTML {
	if t.IsZero() {
		return "never"
	}
	u := t.UTC()
	iso := u.Format(time.RFC3339)
	txt := u.Format("2006-01-02 15:04:05") + " UTC"
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`, iso, txt, txt)) // only digits and fixed text
}

// ms shows a duration in milliseconds, with a decimal below 10 ms.
func ms(d time.Duration) string {
	v := float64(d.Microseconds()) / 1000
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// prettyJSON indents a JSON document, or returns it as it is when it is not
// JSON.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

type headerLine struct{ Name, Value string }

func sortedHeaders(h http.Header) []headerLine {
	out := make([]headerLine, 0, len(h))
	for k, v := range h {
		out = append(out, headerLine{k, strings.Join(v, ", ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		if path.Base(n) == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", n, err)
		}
		pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return pages, nil
}

// render writes a page. It renders into a buffer first, so that a template
// error is still a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, data any) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no page " + name)
	}
	v := view{S: s, D: data}
	if s != nil {
		v.CSRF = c.keys.csrfToken(s.ID)
		v.Flash = c.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
		http.Error(w, "Herald could not render the page; the error has been logged.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
