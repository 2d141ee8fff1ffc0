package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen keeps one connection LISTENing on Channel until ctx ends. Each
// notification carries a committed revision, which wakes Wait. After
// each (re)connect it reads the revision, since notifications sent while
// it was away are lost.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	for ctx.Err() == nil {
		s.listenOnce(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(s.reDelay):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(c)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return
	}
	// Catch up with what was written while not listening.
	if _, err := s.DB.Revision(ctx); err != nil {
		return
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		if rev, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			s.DB.Observe(rev)
		}
	}
}
