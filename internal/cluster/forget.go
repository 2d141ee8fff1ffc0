package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"vitals/internal/store"
)

// Why Forget refuses, for errors.Is.
var (
	// ErrNoNode: no node of that name ever reported (or it was forgotten).
	ErrNoNode = errors.New("no such node")
	// ErrNodeAlive: the node reported within the node timeout. Forgetting
	// it would not last (its next report writes it back) and would let a
	// revision settle ACTIVE without it.
	ErrNodeAlive = errors.New("the node is alive")
	// ErrNodeSelf: the node asked to forget is the one that answers.
	ErrNodeSelf = errors.New("a node cannot forget itself")
)

// Forget removes the gone node name and its statuses from the store, and
// returns it as last read. It refuses this node, a node that is alive
// and a name the store does not have.
//
// The store deletes the node only if its last report is still older
// than the node timeout, in the delete statement itself: a node that
// reports after Forget read the list is kept, and Forget returns
// ErrNodeAlive.
func (a *Agent) Forget(ctx context.Context, name string) (store.Node, error) {
	if name == a.o.Name {
		return store.Node{}, fmt.Errorf("%w: %s is the node that answers; run vitals lb nodes forget on another node once it is stopped", ErrNodeSelf, name)
	}
	nodes, err := a.nodes.ListNodes(ctx)
	if err != nil {
		return store.Node{}, err
	}
	i := slices.IndexFunc(nodes, func(n store.Node) bool { return n.Name == name })
	if i < 0 {
		return store.Node{}, fmt.Errorf("%w: %s", ErrNoNode, name)
	}
	n := nodes[i]
	now := a.o.Now()
	if n.Alive(now, a.o.Timeout) {
		return n, fmt.Errorf("%w: %s reported %s ago, within the node timeout %s; stop its vitals lb first, or wait until it has been silent for --node-timeout",
			ErrNodeAlive, name, now.Sub(n.LastSeen).Round(time.Millisecond), a.o.Timeout)
	}
	forgotten, err := a.nodes.ForgetNode(ctx, name, now.Add(-a.o.Timeout))
	if err != nil {
		return n, err
	}
	if !forgotten {
		// The node reported (or was forgotten) after the list was read.
		nodes, err := a.nodes.ListNodes(ctx)
		if err != nil {
			return n, err
		}
		i := slices.IndexFunc(nodes, func(m store.Node) bool { return m.Name == name })
		if i < 0 {
			return n, fmt.Errorf("%w: %s (forgotten meanwhile by another request)", ErrNoNode, name)
		}
		return nodes[i], fmt.Errorf("%w: %s reported again at %s, while it was being forgotten; it is running: stop its vitals lb first, or wait until it has been silent for --node-timeout %s",
			ErrNodeAlive, name, nodes[i].LastSeen.Format(time.RFC3339Nano), a.o.Timeout)
	}
	a.mu.Lock()
	a.seen = slices.DeleteFunc(a.seen, func(s store.Node) bool { return s.Name == name })
	a.mu.Unlock()
	a.o.Log.Info("node forgotten", "node", name, "last_seen", n.LastSeen, "by", a.o.Name)
	return n, nil
}
