package hook

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// A cursor is the base64 of a list's name and the sort key of the last item
// of a page. The name makes a cursor of another list invalid rather than a
// position in this one. Every store pages this way, so the codec is here.

// EncodeCursor returns the cursor of list that follows key.
func EncodeCursor(list, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + ":" + key))
}

// DecodeCursor returns the key of a cursor of list, "" for no cursor, and
// ErrInvalidCursor for anything else (including a key holding NUL, which a
// text column cannot hold).
func DecodeCursor(list, c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", ErrInvalidCursor
	}
	name, key, ok := strings.Cut(string(b), ":")
	if !ok || name != list || key == "" || strings.ContainsRune(key, 0) {
		return "", ErrInvalidCursor
	}
	return key, nil
}

// DecodeSeqCursor returns the positive sequence number of a cursor of
// list, 0 for no cursor.
func DecodeSeqCursor(list, c string) (int64, error) {
	key, err := DecodeCursor(list, c)
	if err != nil || key == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrInvalidCursor
	}
	return n, nil
}

// NewPage trims rows fetched with limit+1 to limit and sets Next from the
// key of the last row kept.
func NewPage[T any](rows []T, limit int, list string, key func(T) string) Page[T] {
	if rows == nil {
		rows = []T{}
	}
	p := Page[T]{Items: rows}
	if len(rows) > limit {
		p.Items = rows[:limit]
		p.Next = EncodeCursor(list, key(rows[limit-1]))
	}
	return p
}
