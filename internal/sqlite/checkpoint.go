package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointer copies the write-ahead log into the database file on a
// connection of its own. Left to SQLite, a checkpoint runs inside the
// commit that crosses the threshold: that commit, and every write queued
// behind the one writer, waits while thousands of pages are copied and the
// file is synced, which showed as spikes of a few hundred milliseconds in
// ingest-to-delivery latency. A passive checkpoint here copies what no
// reader still needs while the writer goes on appending, so that the
// writer's own checkpoint (a backstop, past 8,192 pages) has little left to
// copy.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	quit chan struct{}
	done chan struct{}
}

// restartFrames is the size of the log, in pages, past which a checkpoint
// also waits for readers to move on so that the next write starts the log
// from its beginning: the log then stops growing even under a load that
// never leaves passive checkpoints a moment with no reader in the way.
const restartFrames = 64 << 10 // 256 MiB of 4 KiB pages

func newCheckpointer(db *sql.DB, every time.Duration, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop(every)
	return c
}

func (c *checkpointer) loop(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		mode := "PASSIVE"
		for range 2 {
			var busy, frames, copied int
			err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
			if err != nil {
				c.log.Warn("checkpoint", "mode", mode, "err", err)
				break
			}
			if mode == "RESTART" && busy != 0 {
				c.log.Warn("checkpoint could not restart the write-ahead log; readers held it", "frames", frames)
			}
			if frames < restartFrames || mode == "RESTART" {
				break
			}
			mode = "RESTART"
		}
	}
}

// close stops the checkpoints; SQLite checkpoints the rest of the log when
// the last connection closes. A nil checkpointer closes too.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	close(c.quit)
	<-c.done
	return c.db.Close()
}
