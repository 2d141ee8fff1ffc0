package octavia

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request) error {
	var views []any
	err := h.view(r.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(r.PathValue("id"))
		if err != nil {
			return err
		}
		monitored, err := hasMonitor(tx, p.ID)
		if err != nil {
			return err
		}
		ms, err := tx.Members(p.ID)
		for i := range ms {
			views = append(views, h.memberView(&ms[i], monitored))
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "members", memberView{}, views)
}

// hasMonitor reports whether the pool has a health monitor.
func hasMonitor(tx store.Tx, poolID string) (bool, error) {
	hms, err := tx.HealthMonitors(poolID)
	return len(hms) > 0, err
}

// poolMember returns the member of the pool in the path; a member of
// another pool is not found, as in Octavia.
func poolMember(tx store.Tx, r *http.Request) (model.Member, error) {
	p, err := tx.Pool(r.PathValue("id"))
	if err != nil {
		return model.Member{}, err
	}
	m, err := tx.Member(r.PathValue("mid"))
	if err == nil && m.PoolID != p.ID {
		err = &store.NotFoundError{Resource: store.ResourceMember, ID: m.ID}
	}
	return m, err
}

func (h *Handler) showMember(w http.ResponseWriter, r *http.Request) error {
	var v memberView
	err := h.view(r.Context(), func(tx store.Tx) error {
		m, err := poolMember(tx, r)
		if err != nil {
			return err
		}
		monitored, err := hasMonitor(tx, m.PoolID)
		v = h.memberView(&m, monitored)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, "member", v)
}

func duplicateMember(err error, m *model.Member) error {
	return duplicate(err, store.ConstraintMemberAddress,
		fmt.Sprintf("Another member on this pool is already using ip address %s on protocol_port %d", m.Address, m.ProtocolPort))
}

func (h *Handler) createMember(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "member")
	if err != nil {
		return err
	}
	var req memberReq
	if err := b.decodeInto("member", &req, nil); err != nil {
		return err
	}
	m := model.NewMember()
	req.apply(&m)
	m.ProvisioningStatus = h.provisioning(true)
	var v memberView
	err = h.update(r.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(r.PathValue("id"))
		if err != nil {
			return err
		}
		m.PoolID = p.ID
		if err := validate(&m); err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		if err := duplicateMember(tx.CreateMember(&m), &m); err != nil {
			return err
		}
		monitored, err := hasMonitor(tx, p.ID)
		v = h.memberView(&m, monitored)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"member": v})
	return nil
}

func (h *Handler) updateMember(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "member")
	if err != nil {
		return err
	}
	mDefaults := model.NewMember()
	if err := b.resetNulls(h.memberView(&mDefaults, true)); err != nil {
		return err
	}
	var req memberReq
	if err := b.decodeInto("member", &req, memberUpdateFields); err != nil {
		return err
	}
	var v memberView
	err = h.update(r.Context(), func(tx store.Tx) error {
		m, err := poolMember(tx, r)
		if err != nil {
			return err
		}
		req.apply(&m)
		m.ProvisioningStatus = h.provisioning(false)
		if err := validate(&m); err != nil {
			return err
		}
		p, err := tx.Pool(m.PoolID)
		if err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		if err := tx.UpdateMember(&m); err != nil {
			return err
		}
		monitored, err := hasMonitor(tx, p.ID)
		v = h.memberView(&m, monitored)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"member": v})
	return nil
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request) error {
	err := h.update(r.Context(), func(tx store.Tx) error {
		m, err := poolMember(tx, r)
		if err != nil {
			return err
		}
		p, err := tx.Pool(m.PoolID)
		if err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		return tx.DeleteMember(m.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// batchMembers replaces the pool's members with the listed ones
// (Octavia's PUT /pools/{id}/members): a listed member whose address and
// protocol_port match an existing one updates it, a new one is created,
// and an existing one not listed is deleted. All or nothing; 202.
func (h *Handler) batchMembers(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	var env map[string]json.RawMessage
	if err := strictUnmarshal(raw, &env); err != nil {
		return malformed(err)
	}
	for k := range env {
		if k != "members" {
			return fault(http.StatusBadRequest, "Unknown argument: %s", k)
		}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(env["members"], &items); err != nil || env["members"] == nil {
		return fault(http.StatusBadRequest, "Invalid input for field/attribute members. Value: '%s'. Value should be a list", clip(env["members"]))
	}
	reqs := make([]memberReq, len(items))
	bodies := make([]body, len(items))
	for i, it := range items {
		if bodies[i], err = objectBody("member", it); err != nil {
			return err
		}
		if err := bodies[i].decodeInto("member", &reqs[i], nil); err != nil {
			return err
		}
	}
	err = h.update(r.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		old, err := tx.Members(p.ID)
		if err != nil {
			return err
		}
		key := func(m *model.Member) string { return m.Address + " " + strconv.Itoa(m.ProtocolPort) }
		existing := map[string]*model.Member{}
		for i := range old {
			existing[key(&old[i])] = &old[i]
		}
		var creates, updates []*model.Member
		seen := map[string]bool{}
		for i := range reqs {
			m := model.NewMember()
			reqs[i].apply(&m)
			m.PoolID = p.ID
			k := key(&m)
			if seen[k] {
				return duplicateMember(&store.ConflictError{Constraint: store.ConstraintMemberAddress, Resource: store.ResourceMember}, &m)
			}
			seen[k] = true
			if cur, ok := existing[k]; ok {
				reqs[i].apply(cur)
				cur.ProvisioningStatus = h.provisioning(false)
				m = *cur
				updates = append(updates, cur)
			} else {
				m.ProvisioningStatus = h.provisioning(true)
				creates = append(creates, &m)
			}
			if err := validate(&m); err != nil {
				return err
			}
		}
		for k, m := range existing {
			if !seen[k] {
				if err := tx.DeleteMember(m.ID); err != nil {
					return err
				}
			}
		}
		for _, m := range updates {
			if err := tx.UpdateMember(m); err != nil {
				return err
			}
		}
		for _, m := range creates {
			if err := duplicateMember(tx.CreateMember(m), m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
