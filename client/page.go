package client

import (
	"context"
	"iter"
)

// PageFunc fetches the page of a list that starts at cursor ("" for the
// first). A method value with the list's other parameters bound makes one:
//
//	func(ctx context.Context, cursor string) (client.Page[client.Delivery], error) {
//		return c.ListDeliveries(ctx, client.DeliveryFilter{Status: "failed", ListParams: client.ListParams{Cursor: cursor}})
//	}
type PageFunc[T any] func(ctx context.Context, cursor string) (Page[T], error)

// Pages iterates over the pages of a list, from the first, until a page
// has no NextCursor or no items, or the loop stops. An error ends the
// iteration after it is yielded.
func Pages[T any](ctx context.Context, fetch PageFunc[T]) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		cursor := ""
		for {
			pg, err := fetch(ctx, cursor)
			if err != nil {
				yield(Page[T]{}, err)
				return
			}
			if !yield(pg, nil) || pg.NextCursor == nil || len(pg.Data) == 0 {
				return
			}
			cursor = *pg.NextCursor
		}
	}
}

// All iterates over every item of a list, page after page.
func All[T any](ctx context.Context, fetch PageFunc[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for pg, err := range Pages(ctx, fetch) {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range pg.Data {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}
