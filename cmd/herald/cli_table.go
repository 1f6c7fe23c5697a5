package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// tableWriter prints aligned columns.
type tableWriter struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *tableWriter {
	return &tableWriter{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
}

// row writes one row; tabs and newlines inside cells become spaces.
func (t *tableWriter) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *tableWriter) flush() error { return t.tw.Flush() }

// fields writes the fields of a struct as "name  value" rows, by their JSON
// names and in their order; embedded structs are flattened.
func (t *tableWriter) fields(v any) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			t.fields(rv.Field(i).Interface())
			continue
		}
		if name == "-" || name == "" {
			continue
		}
		t.row(name, cell(rv.Field(i)))
	}
}

var timeType = reflect.TypeFor[time.Time]()

// cell formats one value for a table.
func cell(v reflect.Value) string {
	switch {
	case v.Kind() == reflect.Pointer && v.IsNil():
		return "-"
	case v.Kind() == reflect.Pointer:
		return cell(v.Elem())
	case v.Type() == timeType:
		return fmtTime(v.Interface().(time.Time))
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		if v.Len() == 0 {
			return "-"
		}
		return string(v.Bytes())
	case v.Kind() == reflect.String:
		return dash(v.String())
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		if v.IsNil() {
			return "-"
		}
		s := make([]string, v.Len())
		for i := range s {
			s[i] = v.Index(i).String()
		}
		return "[" + strings.Join(s, ", ") + "]"
	case v.Kind() == reflect.Map && v.Type().Elem().Kind() == reflect.String:
		var kv []string
		for _, k := range v.MapKeys() {
			kv = append(kv, k.String()+"="+v.MapIndex(k).String())
		}
		sort.Strings(kv)
		return strings.Join(kv, " ")
	case v.Kind() == reflect.Struct, v.Kind() == reflect.Slice, v.Kind() == reflect.Map:
		b, _ := json.Marshal(v.Interface())
		return string(b)
	}
	return fmt.Sprint(v.Interface())
}
