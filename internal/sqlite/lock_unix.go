//go:build unix

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// errLocked means another open file description holds the lock.
var errLocked = errors.New("locked")

// fileLock is an exclusive advisory lock on a file beside the database.
// SQLite's own locks only guard single transactions; this one guards the
// process-wide invariants the store relies on (one writer, so that group
// commit and check-then-insert operations are race-free). flock(2) locks
// belong to the open file description, so a second Open in this process is
// refused too, and the kernel drops the lock when the process dies.
type fileLock struct{ f *os.File }

func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return &fileLock{f: f}, nil
}

// release unlocks by closing the file; the lock file stays, since removing
// it would let two processes lock two different files of the same name.
//
// It unlocks before closing: a child forked by another goroutine of this
// process holds a duplicate of the descriptor until it execs, and the lock,
// which belongs to the shared open file description, would outlive the
// close until then; LOCK_UN ends it for every duplicate at once.
func (l *fileLock) release() error {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, l.f.Close())
}
