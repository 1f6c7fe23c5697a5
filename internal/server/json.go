package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/hook"
)

// Media types a request body may have.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// readBody reads the body of r, at most limit bytes, and decodes it into in.
// An empty body decodes as {}. Unknown fields are refused, so that a typo in
// an optional field ("maxInflight") is an error rather than a silent default;
// so is anything after the JSON object. mergePatch admits
// application/merge-patch+json as well as application/json.
func readBody(r *http.Request, limit int64, mergePatch bool, in any) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body, err := readAll(r.Body, r.ContentLength) // r.Body is a MaxBytesReader
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge(limit)
		}
		return malformed("the request body could not be read")
	}
	if len(body) == 0 {
		return nil
	}
	if err := checkMediaType(r.Header.Get("Content-Type"), mergePatch); err != nil {
		return err
	}
	return decodeJSON(body, in)
}

// readAll is io.ReadAll with a first buffer of the size the request
// declares (at most the limit, checked before), so that a batch of many
// kilobytes is read without growing and copying its buffer a dozen times.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1) // one more byte, so that reading EOF needs no growth
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // more than declared: grow as io.ReadAll does
		}
	}
}

func tooLarge(limit int64) error {
	return &statusError{http.StatusRequestEntityTooLarge, typeTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", limit), nil}
}

// checkMediaType accepts application/json (and, for a merge patch,
// application/merge-patch+json) with no parameters but a UTF-8 charset.
func checkMediaType(ct string, mergePatch bool) error {
	want := "application/json"
	if mergePatch {
		want = "application/json or application/merge-patch+json"
	}
	if ct == "" {
		return unsupported("the request has a body but no Content-Type; send " + want)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == mediaJSON || mergePatch && mt == mediaMergePatch) {
		return unsupported(fmt.Sprintf("Content-Type %q is not supported; send %s", ct, want))
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unsupported(fmt.Sprintf("Content-Type parameter %s=%s is not supported; JSON is UTF-8", k, v))
		}
	}
	return nil
}

func unsupported(detail string) error {
	return &statusError{http.StatusUnsupportedMediaType, typeUnsupportedMedia, detail, nil}
}

// validDecoder is a request body that decodes itself from JSON known to be
// valid, without encoding/json's reflection and second scan, in the common
// case: every key spelt exactly as its field, once, and every value of the
// expected kind with nothing to unescape. The events of a batch are decoded
// this way, where encoding/json cost more than the rest of the request.
type validDecoder interface {
	// decodeValid decodes valid JSON body into the receiver and reports
	// true, or reports false and leaves the receiver as it was when body
	// holds anything else. decodeJSON then decodes body with encoding/json,
	// which tells what is wrong, if anything, so the answer is the same
	// either way.
	decodeValid(body []byte) bool
}

// decodeJSON decodes exactly one JSON object from body into in.
func decodeJSON(body []byte, in any) error {
	if d, ok := in.(validDecoder); ok && json.Valid(body) && d.decodeValid(body) {
		return nil
	}
	return decodeJSONSlow(body, in)
}

// decodeJSONSlow is decodeJSON with encoding/json alone.
func decodeJSONSlow(body []byte, in any) error {
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] != '{' {
		return malformed("the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		return decodeError(err, body, in)
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("the request body holds more than one JSON value")
	}
	// encoding/json matches keys case-insensitively; the API's names are
	// exact, so "URL" is as unknown as "uri".
	if name := unknownField(body, reflect.TypeOf(in)); name != "" {
		return invalid(name, "is not a field of this request (names are case-sensitive)")
	}
	return nil
}

// decodeError turns a decoding error into a client error. encoding/json has
// no typed error for an unknown field, so that case is found by comparing
// the body's keys with the fields of in rather than by reading the message.
func decodeError(err error, body []byte, in any) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return malformed("the request body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("the request body ends inside a JSON value")
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return malformed("the request body must be a JSON object")
		}
		return invalid(te.Field, "must be %s", jsonKind(te.Type))
	}
	if name := unknownField(body, reflect.TypeOf(in)); name != "" {
		return invalid(name, "is not a field of this request (names are case-sensitive)")
	}
	return malformed("the request body could not be decoded")
}

// jsonKind names the JSON kind of values that decode into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value of another kind"
}

// unknownField returns a top-level key of the JSON object body that
// is not a json-tagged field of the struct that t points to. body must be
// valid JSON (a decoder read it first), so the keys are found by a scan
// that skips values without decoding them; a key with an escape is
// decoded. This runs for every event of a batch, where decoding the object
// again into a map cost as much as the decoding proper.
func unknownField(body []byte, t reflect.Type) string {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return ""
	}
	known := fieldNames(t.Elem())
	unknown := ""
	topKeys(body, func(raw []byte, escaped bool) bool {
		k := string(raw)
		if escaped && json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &k) != nil {
			return true
		}
		if !known[k] {
			unknown = k
			return false
		}
		return true
	})
	return unknown
}

var fieldNameCache sync.Map // reflect.Type → map[string]bool

// fieldNames returns the JSON names of the fields of the struct type st.
func fieldNames(st reflect.Type) map[string]bool {
	if m, ok := fieldNameCache.Load(st); ok {
		return m.(map[string]bool)
	}
	known := map[string]bool{}
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	fieldNameCache.Store(st, known)
	return known
}

// topKeys calls fn with each key of the JSON object that valid JSON body
// holds (without its quotes, and whether it has an escape) until fn
// returns false. It does nothing when body is not an object.
func topKeys(body []byte, fn func(key []byte, escaped bool) bool) {
	members(body, func(key []byte, escaped bool, _ []byte) bool { return fn(key, escaped) })
}

// members calls fn with each member of the JSON object that valid JSON body
// holds: its key (without its quotes, and whether it has an escape) and its
// value (the bytes of the value, without the white space around it), until
// fn returns false. It does nothing when body is not an object.
func members(body []byte, fn func(key []byte, escaped bool, value []byte) bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != '"' {
			return // '}' or the end
		}
		end, escaped := stringEnd(body, i)
		key := body[i+1 : end-1]
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return
		}
		start := skipSpace(body, i+1)
		i = skipValue(body, start)
		if !fn(key, escaped, trimSpaceRight(body[start:i])) {
			return
		}
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != ',' {
			return
		}
		i++
	}
}

// elements calls fn with each element of the JSON array that valid JSON
// body holds (the bytes of the value, without the white space around it),
// until fn returns false. It does nothing when body is not an array.
func elements(body []byte, fn func(value []byte) bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '[' {
		return
	}
	i++
	for {
		start := skipSpace(body, i)
		if start >= len(body) || body[start] == ']' {
			return
		}
		i = skipValue(body, start)
		if !fn(trimSpaceRight(body[start:i])) {
			return
		}
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != ',' {
			return
		}
		i++
	}
}

// trimSpaceRight drops the JSON white space that skipValue leaves after a
// number, true, false or null.
func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// plainString returns the string that the JSON value v (valid JSON) holds
// when it is a string with no escape and valid UTF-8, where encoding/json
// would decode it to its bytes as they are. It reports false for any other
// value, which is left to encoding/json.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return "", false
	}
	return string(s), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts at b[i]
// (a quote), and whether it holds an escape.
func stringEnd(b []byte, i int) (int, bool) {
	// Most strings hold no escape: then the first quote after the opening
	// one closes it, and bytes.IndexByte finds both faster than a loop.
	if j := bytes.IndexByte(b[i+1:], '"'); j >= 0 && bytes.IndexByte(b[i+1:i+1+j], '\\') < 0 {
		return i + j + 2, false
	}
	escaped := false
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return len(b), escaped
}

// skipValue returns the index just past the JSON value that starts at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i, _ = stringEnd(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// timeOrNull is t in UTC, or nil (JSON null) for the zero time, which stands
// for "never".
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// durations formats a schedule as Go duration strings; nil stays nil.
func durations(ds []time.Duration) []string {
	if ds == nil {
		return nil
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// parseDuration parses a Go duration string such as "15s" for field.
func parseDuration(fe *fieldErrors, field, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		fe.add(field, "must be a duration such as \"15s\" or \"500ms\"")
	}
	return d
}

// fieldErrors collects the field errors of one request.
type fieldErrors []hook.FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, hook.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was collected, else a *hook.ValidationError.
func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &hook.ValidationError{Fields: fe}
}

// validate runs a domain validation and adds its errors for fields that
// have none yet, so that a field that did not parse is not reported twice.
func (fe *fieldErrors) validate(err error) error {
	ve, ok := errors.AsType[*hook.ValidationError](err)
	if err != nil && !ok {
		return err
	}
	if ok {
		seen := map[string]bool{}
		for _, f := range *fe {
			seen[f.Field] = true
		}
		for _, f := range ve.Fields {
			if !seen[f.Field] {
				*fe = append(*fe, f)
			}
		}
	}
	return fe.err()
}

// nonNil returns s, or an empty slice for nil, so that it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// nonNilMap returns m, or an empty map for nil, so that it encodes as {}.
func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
