package change

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// wantTable is the change lifecycle written out by hand: one row per
// (state, action) pair that anyone may take, one column per actor of the
// fixture below, the next state where the actor may take it and "-" where
// the actor is refused. Every pair not listed is refused for everyone.
//
// Actors: olga (operator, author, team A operator), oscar (operator, team B
// operator), sue (security, security member of A and B), root (admin, no
// team), eve (admin, edited the change), alice (approver of A and B), andy
// (approver of A only), sam (stakeholder of g1), tom (stakeholder of g2),
// audrey (auditor), sys (the scheduler and engine). Sign-offs are for g1;
// g2 has signed off ok already.
const wantTable = `
state                    action                  olga  oscar sue   root  eve   alice andy  sam   tom   audrey sys
draft                    submit                  pa    -     -     pa    pa    -     -     -     -     -      -
draft                    edit                    dr    dr    dr    dr    dr    -     -     -     -     -      -
draft                    cancel                  can   can   can   can   can   -     -     -     -     -      -
pending-approval         approve                 -     -     -     ap    -     ap    -     -     -     -      -
pending-approval         reject                  -     -     -     rej   rej   rej   rej   -     -     -      -
pending-approval         edit                    pa    pa    pa    pa    pa    -     -     -     -     -      -
pending-approval         cancel                  can   can   can   can   can   -     -     -     -     -      -
approved                 start                   run   run   -     run   run   -     -     -     -     -      run
approved                 edit                    pa    pa    pa    pa    pa    -     -     -     -     -      -
approved                 cancel                  can   can   can   can   can   -     -     -     -     -      -
scheduled                start                   run   run   -     run   run   -     -     -     -     -      run
scheduled                edit                    pa    pa    pa    pa    pa    -     -     -     -     -      -
scheduled                cancel                  can   can   can   can   can   -     -     -     -     -      -
running                  halt                    hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
running                  rollback-host           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
running                  rollback-wave           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
running                  rollback-all            rb    rb    -     rb    rb    -     -     -     -     -      -
running                  emergency-stop          hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
running                  engine-progress         -     -     -     -     -     -     -     -     -     -      run
running                  engine-done             -     -     -     -     -     -     -     -     -     -      aso
running                  engine-halted           -     -     -     -     -     -     -     -     -     -      hlt
running                  engine-rolled-back      -     -     -     -     -     -     -     -     -     -      rbd
running                  engine-rollback-failed  -     -     -     -     -     -     -     -     -     -      rbf
halted                   resume                  run   run   -     run   run   -     -     -     -     -      -
halted                   rollback-host           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
halted                   rollback-wave           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
halted                   rollback-all            rb    rb    -     rb    rb    -     -     -     -     -      -
halted                   release                 hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
halted                   engine-progress         -     -     -     -     -     -     -     -     -     -      hlt
halted                   engine-rolled-back      -     -     -     -     -     -     -     -     -     -      rbd
halted                   engine-rollback-failed  -     -     -     -     -     -     -     -     -     -      rbf
rolling-back             emergency-stop          rb    rb    -     rb    rb    -     -     -     -     -      -
rolling-back             release                 rb    rb    -     rb    rb    -     -     -     -     -      -
rolling-back             engine-progress         -     -     -     -     -     -     -     -     -     -      rb
rolling-back             engine-rolled-back      -     -     -     -     -     -     -     -     -     -      rbd
rolling-back             engine-rollback-failed  -     -     -     -     -     -     -     -     -     -      rbf
awaiting-signoff         signoff-ok              -     -     -     cmp   cmp   -     -     cmp   -     -      -
awaiting-signoff         signoff-problem         -     -     -     cwp   cwp   -     -     cwp   -     -      -
awaiting-signoff         rollback-host           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
awaiting-signoff         rollback-wave           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
awaiting-signoff         rollback-all            rb    rb    -     rb    rb    -     -     -     -     -      -
completed                signoff-ok              -     -     -     cmp   cmp   -     -     cmp   -     -      -
completed                signoff-problem         -     -     -     cwp   cwp   -     -     cwp   -     -      -
completed                rollback-host           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
completed                rollback-wave           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
completed                rollback-all            rb    rb    -     rb    rb    -     -     -     -     -      -
completed-with-problems  signoff-ok              -     -     -     cwp   cwp   -     -     cwp   -     -      -
completed-with-problems  signoff-problem         -     -     -     cwp   cwp   -     -     cwp   -     -      -
completed-with-problems  rollback-host           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
completed-with-problems  rollback-wave           hlt   hlt   -     hlt   hlt   -     -     -     -     -      -
completed-with-problems  rollback-all            rb    rb    -     rb    rb    -     -     -     -     -      -
`

var abbrev = map[string]State{
	"dr": Draft, "pa": PendingApproval, "ap": Approved, "sc": Scheduled, "run": Running, "hlt": Halted,
	"rb": RollingBack, "rbd": RolledBack, "rbf": RollbackFailed, "aso": AwaitingSignOff, "cmp": Completed,
	"cwp": CompletedWithProblems, "rej": Rejected, "can": Cancelled,
}

var fixtureActors = map[string]Actor{
	"olga":   {Name: "olga", Role: RoleOperator, Teams: map[string]string{"A": "operator"}},
	"oscar":  {Name: "oscar", Role: RoleOperator, Teams: map[string]string{"B": "operator"}},
	"sue":    {Name: "sue", Role: RoleSecurity, Teams: map[string]string{"A": "security", "B": "security"}},
	"root":   {Name: "root", Role: RoleAdmin},
	"eve":    {Name: "eve", Role: RoleAdmin},
	"alice":  {Name: "alice", Role: RoleApprover, Teams: map[string]string{"A": "approver", "B": "approver"}},
	"andy":   {Name: "andy", Role: RoleApprover, Teams: map[string]string{"A": "approver"}},
	"sam":    {Name: "sam", Role: RoleStakeholder},
	"tom":    {Name: "tom", Role: RoleStakeholder},
	"audrey": {Name: "audrey", Role: RoleAuditor},
	"sys":    {Name: "scheduler", Role: RoleSystem},
}

func fixture(s State) Change {
	return Change{ID: "c1", State: s, Author: "olga", Editors: []string{"eve"}, Teams: []string{"A", "B"},
		Stakeholders: map[string]string{"g1": "sam", "g2": "tom"}, SignOffs: map[string]bool{"g2": true},
		Digest: "d1", ApprovedDigest: "d1"}
}

func TestTransitionTableMatchesTheLifecycleWrittenOutByHand(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(wantTable), "\n")
	actors := strings.Fields(lines[0])[2:]
	type key struct {
		s State
		a Action
	}
	want := map[key][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 2+len(actors) {
			t.Fatalf("table row %q has %d cells, want %d", l, len(f), 2+len(actors))
		}
		k := key{State(f[0]), Action(f[1])}
		if _, dup := want[k]; dup {
			t.Fatalf("table row %s %s appears twice", k.s, k.a)
		}
		want[k] = f[2:]
	}
	if len(actors) != len(fixtureActors) {
		t.Fatalf("table has %d actor columns, fixture %d", len(actors), len(fixtureActors))
	}
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	cells := 0
	for _, s := range States() {
		for _, a := range Actions() {
			row, listed := want[key{s, a}]
			delete(want, key{s, a})
			for i, name := range actors {
				who, ok := fixtureActors[name]
				if !ok {
					t.Fatalf("unknown actor column %q", name)
				}
				cells++
				d, err := Decide(fixture(s), Request{Action: a, Group: "g1"}, who, now)
				cell := "-"
				if listed {
					cell = row[i]
				}
				if cell == "-" {
					if err == nil {
						t.Errorf("%s %s by %s: allowed (→ %s), want refused", s, a, name, d.To)
						continue
					}
					wantErr := ErrForbidden
					if !listed {
						wantErr = ErrWrongState
					}
					if !errors.Is(err, wantErr) {
						t.Errorf("%s %s by %s: error %q, want one wrapping %q", s, a, name, err, wantErr)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s %s by %s: refused (%v), want → %s", s, a, name, err, abbrev[cell])
					continue
				}
				if d.From != s || d.To != abbrev[cell] {
					t.Errorf("%s %s by %s: %s → %s, want → %s", s, a, name, d.From, d.To, abbrev[cell])
				}
			}
		}
	}
	for k := range want {
		t.Errorf("table row %s %s names an unknown state or action", k.s, k.a)
	}
	if want := len(States()) * len(Actions()) * len(fixtureActors); cells != want || cells != 14*20*11 {
		t.Errorf("walked %d cells, want %d", cells, want)
	}
}
