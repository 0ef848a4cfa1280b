package reports

import (
	goflag "flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// reporter is what both *testing.T and *rapid.T offer the shared checks.
type reporter interface {
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// ---------------------------------------------------------------------------
// Helpers: building tables, naming cells.

// peopleMeasure is the measure of the assistance report: people add up along
// single-valued dimensions only.
func peopleMeasure() measure {
	return measure{get: func(c *Cell) int64 { return c.People }, additive: func(d *dim) bool { return !d.multi }}
}

// servicesMeasures are the measures of the services report: people never add
// up, services always do.
func servicesMeasures() []measure {
	return []measure{
		{get: func(c *Cell) int64 { return c.People }, additive: func(*dim) bool { return false }},
		{get: func(c *Cell) int64 { return c.Services }, additive: func(*dim) bool { return true }},
	}
}

// rep is n people holding the same values.
func rep(n int, values ...[]string) [][][]string {
	out := make([][][]string, n)
	for i := range out {
		out[i] = values
	}
	return out
}

func units(groups ...[][][]string) [][][]string {
	var out [][][]string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(v string) []string     { return []string{v} }
func set(vs ...string) []string { return vs }

func buildPeopleTable(names []string, multi []bool, us [][][]string) *table {
	t := newTable(names, func(n string) bool { return multi[slices.Index(names, n)] })
	for _, u := range us {
		t.add(u, func(c *Cell) { c.People++ })
	}
	t.ensureTotal()
	return t
}

// label names a cell by its values ("*" for a total) joined by "|".
func label(t *table, c *Cell) string {
	parts := make([]string, len(t.dims))
	for i, d := range t.dims {
		if c.coord[i] == total {
			parts[i] = "*"
		} else {
			parts[i] = d.values[c.coord[i]]
		}
	}
	return strings.Join(parts, "|")
}

func hiddenLabels(t *table) []string {
	out := []string{}
	for _, c := range t.cells {
		if c.Suppressed {
			out = append(out, label(t, c))
		}
	}
	slices.Sort(out)
	return out
}

func cellByLabel(t *table, l string) *Cell {
	for _, c := range t.cells {
		if label(t, c) == l {
			return c
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// An independent attacker: it knows the published table (shown values,
// which cells are hidden, absent cells are zero) and the relations totals
// obey, and searches exhaustively (branch and bound over integer intervals)
// for the values hidden cells can take. It shares no code with suppress.go.

// arel is one relation the attacker knows: parent == sum(children) when
// additive, else max(children) <= parent <= sum(children).
type arel struct {
	parent   int
	children []int
	additive bool
}

type attacker struct {
	fixed  []bool
	val    []int64 // the published value of shown cells
	rels   []arel
	cap    int64 // upper bound of every hidden cell
	budget int   // search nodes left; exhausted means inconclusive
	// maxPasses bounds propagate (0: until nothing changes); stalled says
	// it was reached.
	maxPasses int
	stalled   bool
}

// coordKey is the attacker's own key of a coordinate.
func coordKey(c []int) string { return fmt.Sprint(c) }

// attackerRelations lists, for every cell that is a total along dimension d,
// the cells it totals along d (cells present in the table; absent ones are
// zero and contribute nothing).
func attackerRelations(coords [][]int, additive func(d int) bool) []arel {
	var rels []arel
	for p, pc := range coords {
		for d := range pc {
			if pc[d] != total {
				continue
			}
			r := arel{parent: p, additive: additive(d)}
			for c, cc := range coords {
				if cc[d] == total {
					continue
				}
				same := true
				for j := range cc {
					if j != d && cc[j] != pc[j] {
						same = false
						break
					}
				}
				if same {
					r.children = append(r.children, c)
				}
			}
			rels = append(rels, r)
		}
	}
	return rels
}

// holds reports whether a full assignment satisfies every relation.
func (a *attacker) holds(v []int64) bool {
	for _, r := range a.rels {
		var sum, mx int64
		for _, c := range r.children {
			sum += v[c]
			mx = max(mx, v[c])
		}
		if r.additive && v[r.parent] != sum {
			return false
		}
		if !r.additive && (v[r.parent] < mx || v[r.parent] > sum) {
			return false
		}
	}
	return true
}

// propagate narrows lo/hi with every relation until nothing changes; false
// when some interval becomes empty. Only sound deductions are made.
func (a *attacker) propagate(lo, hi []int64) bool {
	for pass, changed := 0, true; changed; pass++ {
		if a.maxPasses > 0 && pass == a.maxPasses {
			a.stalled = true
			return true
		}
		changed = false
		narrow := func(i int, l, h int64) bool {
			if l > lo[i] {
				lo[i], changed = l, true
			}
			if h < hi[i] {
				hi[i], changed = h, true
			}
			return lo[i] <= hi[i]
		}
		for _, r := range a.rels {
			var sLo, sHi, mLo int64
			for _, c := range r.children {
				sLo += lo[c]
				sHi += hi[c]
				mLo = max(mLo, lo[c])
			}
			p := r.parent
			if r.additive {
				if !narrow(p, sLo, sHi) {
					return false
				}
			} else if !narrow(p, mLo, sHi) {
				return false
			}
			for _, c := range r.children {
				h := hi[p]
				if r.additive {
					h = hi[p] - (sLo - lo[c])
				}
				if !narrow(c, lo[p]-(sHi-hi[c]), h) {
					return false
				}
			}
		}
	}
	return true
}

// feasible searches for an assignment within lo/hi satisfying every
// relation. conclusive is false when the node budget ran out.
func (a *attacker) feasible(lo, hi []int64) (found, conclusive bool) {
	if a.budget--; a.budget < 0 {
		return false, false
	}
	if !a.propagate(lo, hi) {
		return false, true
	}
	best := -1
	for i := range lo {
		if lo[i] < hi[i] && (best < 0 || hi[i]-lo[i] < hi[best]-lo[best]) {
			best = i
		}
	}
	if best < 0 {
		return a.holds(lo), true
	}
	mid := lo[best] + (hi[best]-lo[best])/2
	l1, h1 := slices.Clone(lo), slices.Clone(hi)
	h1[best] = mid
	f1, c1 := a.feasible(l1, h1)
	if f1 {
		return true, true
	}
	l2, h2 := slices.Clone(lo), slices.Clone(hi)
	l2[best] = mid + 1
	f2, c2 := a.feasible(l2, h2)
	if f2 {
		return true, true
	}
	return false, c1 && c2
}

func (a *attacker) start() (lo, hi []int64) {
	lo, hi = make([]int64, len(a.val)), make([]int64, len(a.val))
	for i := range a.val {
		if a.fixed[i] {
			lo[i], hi[i] = a.val[i], a.val[i]
		} else {
			lo[i], hi[i] = 1, a.cap
		}
	}
	return lo, hi
}

// alternative reports whether hidden cell i can take a value other than
// truth (pinned is the negation, when conclusive).
func (a *attacker) alternative(i int, truth int64) (found, conclusive bool) {
	conclusive = true
	if truth > 1 {
		lo, hi := a.start()
		hi[i] = truth - 1
		f, c := a.feasible(lo, hi)
		if f {
			return true, true
		}
		conclusive = conclusive && c
	}
	if truth < a.cap {
		lo, hi := a.start()
		lo[i] = truth + 1
		f, c := a.feasible(lo, hi)
		if f {
			return true, true
		}
		conclusive = conclusive && c
	}
	return false, conclusive
}

// feasibleSet enumerates every value hidden cell i can take (for small
// caps; used by the attacker's own self-test).
func (a *attacker) feasibleSet(i int) []int64 {
	var out []int64
	for v := int64(1); v <= a.cap; v++ {
		lo, hi := a.start()
		lo[i], hi[i] = v, v
		if f, _ := a.feasible(lo, hi); f {
			out = append(out, v)
		}
	}
	return out
}

// hiddenCap is what the attacker may assume bounds hidden values: the grand
// total when it is shown (every cell is at most it anyway), else a generous
// bound.
const hiddenCap = 200

// attackResult is the outcome of attacking one suppressed table.
type attackResult struct {
	inconclusive bool
}

// attackTable attacks t for one measure (truth is the true value of each
// cell; additive says which dimensions add up) and reports every hidden
// cell of a small count of people that is pinned to one value.
// newAttacker is the attacker of t's published values of a measure; tv are
// the true values.
func newAttacker(t *table, truth func(*Cell) int64, additive func(d *dim) bool, hiddenCap int64) (a *attacker, tv []int64) {
	coords := make([][]int, len(t.cells))
	a = &attacker{fixed: make([]bool, len(t.cells)), val: make([]int64, len(t.cells)), cap: hiddenCap}
	tv = make([]int64, len(t.cells))
	for i, c := range t.cells {
		coords[i] = c.coord
		tv[i] = truth(c)
		if !c.Suppressed {
			a.fixed[i], a.val[i] = true, tv[i]
			if slices.IndexFunc(c.coord, func(x int) bool { return x != total }) < 0 {
				a.cap = tv[i] // the grand total, shown
			}
		}
	}
	a.rels = attackerRelations(coords, func(d int) bool { return additive(t.dims[d]) })
	return a, tv
}

// intervalPinned is what suppress promises at least: propagating bounds
// alone (no search) pins no hidden cell of a small count of people.
// conclusive is false when propagation did not settle.
func intervalPinned(t *table, truth func(*Cell) int64, additive func(d *dim) bool, k int64) (pinned []string, conclusive bool) {
	a, _ := newAttacker(t, truth, additive, 1<<40)
	a.maxPasses = 10_000
	lo, hi := a.start()
	if !a.propagate(lo, hi) {
		return []string{"(bounds contradict the true values)"}, true
	}
	for i, c := range t.cells {
		if c.Suppressed && c.People >= 1 && c.People < k && lo[i] == hi[i] {
			pinned = append(pinned, fmt.Sprintf("%s=%d", label(t, c), lo[i]))
		}
	}
	return pinned, !a.stalled
}

func attackTable(r reporter, t *table, what string, truth func(*Cell) int64, additive func(d *dim) bool, k int64, budget int) attackResult {
	a, tv := newAttacker(t, truth, additive, hiddenCap)
	a.budget = budget
	// Sanity: the truth satisfies the relations the attacker assumes.
	if !a.holds(tv) {
		for _, rel := range a.rels {
			b := &attacker{rels: []arel{rel}}
			if !b.holds(tv) {
				r.Fatalf("%s: true values violate the attacker's relation %s over %v (additive=%v)", what,
					label(t, t.cells[rel.parent]), labelsOf(t, rel.children), rel.additive)
			}
		}
	}
	var out attackResult
	var pinned []string
	for i, c := range t.cells {
		if !c.Suppressed || c.People < 1 || c.People >= k {
			continue
		}
		found, conclusive := a.alternative(i, tv[i])
		if !conclusive {
			out.inconclusive = true
			return out
		}
		if !found {
			pinned = append(pinned, fmt.Sprintf("%s (people=%d) can only be %s=%d", label(t, c), c.People, what, tv[i]))
		}
	}
	if len(pinned) > 0 {
		r.Errorf("k=%d: hidden cells recoverable from the published %s:\n  %s\n%s",
			k, what, strings.Join(pinned, "\n  "), dump(t, truth))
	}
	return out
}

func labelsOf(t *table, idx []int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = label(t, t.cells[x])
	}
	return out
}

// dump prints the published table with true values of hidden cells.
func dump(t *table, truth func(*Cell) int64) string {
	var b strings.Builder
	for i, d := range t.dims {
		fmt.Fprintf(&b, "dim %d %q multi=%v values=%v\n", i, d.name, d.multi, d.values)
	}
	for _, c := range t.sorted() {
		h := ""
		if c.Suppressed {
			h = " (hidden)"
		}
		fmt.Fprintf(&b, "  %-12s people=%d value=%d%s\n", label(t, c), c.People, truth(c), h)
	}
	return b.String()
}

// checkInvariants checks what suppress promises regardless of the attacker:
// every People value 1..k-1 hidden, zero cells absent, and every total
// relation holding no hidden cell or at least two.
func checkInvariants(r reporter, t *table, k int64) {
	for _, c := range t.cells {
		if c.People >= 1 && c.People < k && !c.Suppressed {
			r.Errorf("cell %s with %d people (k=%d) is shown", label(t, c), c.People, k)
		}
		if c.People == 0 && c.Suppressed {
			r.Errorf("cell %s of zero people is published as suppressed", label(t, c))
		}
	}
	coords := make([][]int, len(t.cells))
	for i, c := range t.cells {
		coords[i] = c.coord
	}
	for _, rel := range attackerRelations(coords, func(int) bool { return true }) {
		hidden := 0
		for _, m := range append([]int{rel.parent}, rel.children...) {
			if t.cells[m].Suppressed {
				hidden++
			}
		}
		if hidden == 1 {
			r.Errorf("relation %s over %v hides exactly one cell", label(t, t.cells[rel.parent]), labelsOf(t, rel.children))
		}
	}
}

// ---------------------------------------------------------------------------
// Unit tests.

func TestSuppressExamples(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dims  []string
		multi []bool
		units [][][]string
		k     int64
		want  []string // exactly the hidden cells (nil: not checked)
	}{
		{
			name: "1-D additive: the small cell and the next smallest are hidden",
			dims: []string{"sex"}, multi: []bool{false},
			units: units(rep(2, one("f")), rep(10, one("m")), rep(8, one("u"))),
			k:     5,
			want:  []string{"f", "u"},
		},
		{
			name: "no small cells hides nothing",
			dims: []string{"sex", "city"}, multi: []bool{false, false},
			units: units(rep(6, one("f"), one("A")), rep(7, one("m"), one("A")), rep(5, one("f"), one("B")), rep(9, one("m"), one("B"))),
			k:     5,
			want:  []string{},
		},
		{
			name: "zero cells are absent, not suppressed",
			dims: []string{"sex", "city"}, multi: []bool{false, false},
			units: units(rep(6, one("f"), one("A")), rep(7, one("m"), one("B"))),
			k:     5,
			want:  []string{},
		},
		{
			name: "every count from 1 to k-1 is hidden",
			dims: []string{"v"}, multi: []bool{false},
			units: units(rep(1, one("a")), rep(2, one("b")), rep(3, one("c")), rep(4, one("d")), rep(5, one("e")), rep(6, one("f"))),
			k:     5,
			want:  []string{"a", "b", "c", "d"},
		},
		{
			name: "k=3 hides only 1 and 2",
			dims: []string{"v"}, multi: []bool{false},
			units: units(rep(1, one("a")), rep(2, one("b")), rep(3, one("c")), rep(4, one("d"))),
			k:     3,
			want:  []string{"a", "b"},
		},
		{
			name: "multi-valued: a lone small value still gets a companion",
			dims: []string{"exploitation"}, multi: []bool{true},
			units: units(rep(2, set("a", "b")), rep(10, one("b")), rep(6, one("c"))),
			k:     5,
			// a=2 b=12 c=6, total 18 (not 20: people are counted once).
			want: []string{"a", "c"},
		},
		{
			// Primary and complementary suppression hide v1|b, v1|*,
			// v0|b and v0|*; but then *|* = 4, *|b = 4 and v0|* >= v0|a
			// = 3 (a multi-valued total is at least its largest child)
			// pin v1|* = 1, so the audit must hide more (today: everything
			// but the grand total; any set the attacker cannot break will
			// do, so only the attacker judges it).
			name: "multi-valued: a total is at least its largest child",
			dims: []string{"sex", "exploitation"}, multi: []bool{false, true},
			units: units(rep(3, one("v0"), set("a", "b")), rep(1, one("v1"), one("b"))),
			k:     3,
		},
		{
			name: "2-D: single small cell needs a rectangle",
			dims: []string{"sex", "city"}, multi: []bool{false, false},
			units: units(rep(2, one("f"), one("A")), rep(9, one("m"), one("A")), rep(7, one("f"), one("B")), rep(8, one("m"), one("B"))),
			k:     5,
			want:  []string{"f|A", "f|B", "m|A", "m|B"},
		},
		{
			name: "small grand total hides everything",
			dims: []string{"sex"}, multi: []bool{false},
			units: units(rep(1, one("f")), rep(2, one("m"))),
			k:     5,
			want:  []string{"*", "f", "m"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := buildPeopleTable(tc.dims, tc.multi, tc.units)
			tab.suppress(tc.k, []measure{peopleMeasure()})
			if got := hiddenLabels(tab); tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("hidden = %v, want %v\n%s", got, tc.want, dump(tab, func(c *Cell) int64 { return c.People }))
			}
			for _, c := range tab.cells {
				if c.People == 0 && len(tc.units) > 0 {
					t.Errorf("cell %s of zero people is in the table", label(tab, c))
				}
			}
			checkInvariants(t, tab, tc.k)
			people := func(c *Cell) int64 { return c.People }
			if attackTable(t, tab, "people", people, func(d *dim) bool { return !d.multi }, tc.k, 1_000_000).inconclusive {
				t.Fatal("attack inconclusive")
			}
		})
	}
}

func TestSuppressMultiValuedTotalsDoNotAdd(t *testing.T) {
	// a=3 b=12 total 12: a is hidden, b (as the only other child) too, and
	// the total stays shown; knowing max(a,b) <= 12 <= a+b, a is 1..12.
	tab := buildPeopleTable([]string{"citizenship"}, []bool{true}, units(rep(3, set("a", "b")), rep(9, one("b"))))
	if got := cellByLabel(tab, "*").People; got != 12 {
		t.Fatalf("total = %d, want 12 (people counted once)", got)
	}
	tab.suppress(5, []measure{peopleMeasure()})
	if got, want := hiddenLabels(tab), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("hidden = %v, want %v", got, want)
	}
	a, _ := newAttacker(tab, func(c *Cell) int64 { return c.People }, func(*dim) bool { return false }, hiddenCap)
	a.budget = 1_000_000
	ia := tab.byKey[key([]int{0})]
	if got := a.feasibleSet(ia); len(got) != 12 {
		t.Errorf("feasible values of a = %v, want 1..12", got)
	}
}

func TestSuppressEmptyTable(t *testing.T) {
	tab := buildPeopleTable([]string{"sex"}, []bool{false}, nil)
	tab.suppress(5, []measure{peopleMeasure()})
	if len(tab.cells) != 1 || tab.cells[0].People != 0 || tab.cells[0].Suppressed {
		t.Fatalf("empty table = %+v, want one shown grand total of 0", tab.cells)
	}
}

// TestAttackerSelfTest shows the attacker does find a recoverable cell: a
// 1-D additive table hiding one cell only.
func TestAttackerSelfTest(t *testing.T) {
	tab := buildPeopleTable([]string{"sex"}, []bool{false}, units(rep(2, one("f")), rep(10, one("m")), rep(8, one("u"))))
	cellByLabel(tab, "f").Suppressed = true
	rec := &recorder{}
	attackTable(rec, tab, "people", func(c *Cell) int64 { return c.People }, func(*dim) bool { return true }, 5, 1_000_000)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "\n  f (people=2) can only be people=2\n") {
		t.Fatalf("attacker reported %q, want f recoverable", rec.errors)
	}
	// With two cells hidden, f is 1..9.
	cellByLabel(tab, "u").Suppressed = true
	rec = &recorder{}
	attackTable(rec, tab, "people", func(c *Cell) int64 { return c.People }, func(*dim) bool { return true }, 5, 1_000_000)
	if len(rec.errors) != 0 {
		t.Fatalf("attacker reported %q, want nothing", rec.errors)
	}
	// Multi-valued: with one hidden child, the total only bounds it.
	tab = buildPeopleTable([]string{"c"}, []bool{true}, units(rep(2, set("a", "b")), rep(10, one("b")), rep(6, one("c"))))
	cellByLabel(tab, "a").Suppressed = true
	rec = &recorder{}
	attackTable(rec, tab, "people", func(c *Cell) int64 { return c.People }, func(d *dim) bool { return !d.multi }, 5, 1_000_000)
	if len(rec.errors) != 0 {
		t.Fatalf("attacker reported %q for a multi-valued total, want nothing", rec.errors)
	}
}

type recorder struct{ errors []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (r *recorder) Logf(string, ...any)               {}

// ---------------------------------------------------------------------------
// Property tests: random tables against the brute-force attacker.

// rapidChecks raises rapid's number of checks for one test unless the
// caller set -rapid.checks, and returns the number that will run.
func rapidChecks(t *testing.T, n int) int {
	f := goflag.Lookup("rapid.checks")
	if f == nil {
		return 100
	}
	if f.Value.String() == f.DefValue {
		old := f.Value.String()
		if err := goflag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = goflag.Set("rapid.checks", old) })
	}
	got, _ := strconv.Atoi(f.Value.String())
	if testing.Short() {
		got /= 5
	}
	return got
}

// minChecked is how many draws must really be attacked.
func minChecked(checks int) int { return min(100, checks/2) }

// genDims draws 1-3 dimensions of 2-4 values, each single- or
// multi-valued (always single when multiOK is false).
func genDims(rt *rapid.T, multiOK bool) (names []string, nv []int, multi []bool) {
	nd := rapid.IntRange(1, 3).Draw(rt, "dimensions")
	for d := range nd {
		names = append(names, fmt.Sprintf("d%d", d))
		nv = append(nv, rapid.IntRange(2, 4).Draw(rt, fmt.Sprintf("values of d%d", d)))
		multi = append(multi, multiOK && rapid.Bool().Draw(rt, fmt.Sprintf("d%d multi", d)))
	}
	return names, nv, multi
}

func valueName(_, v int) string { return fmt.Sprintf("v%d", v) }

// genValues draws one unit's values: one per single-valued dimension, a
// non-empty subset for a multi-valued one.
func genValues(rt *rapid.T, nv []int, multi []bool, name string) [][]string {
	out := make([][]string, len(nv))
	for d := range nv {
		if multi[d] {
			mask := rapid.IntRange(1, 1<<nv[d]-1).Draw(rt, fmt.Sprintf("%s d%d set", name, d))
			for v := range nv[d] {
				if mask&(1<<v) != 0 {
					out[d] = append(out[d], valueName(d, v))
				}
			}
		} else {
			out[d] = []string{valueName(d, rapid.IntRange(0, nv[d]-1).Draw(rt, fmt.Sprintf("%s d%d", name, d)))}
		}
	}
	return out
}

// holdsCell reports whether a unit falls in the cell with these values
// ("" for a total).
func holdsCell(u [][]string, cell []string) bool {
	for d, v := range cell {
		if v != "" && !slices.Contains(u[d], v) {
			return false
		}
	}
	return true
}

// checkCounts compares every cell of t with brute-force counts over the
// whole product of values and totals; absent cells must count zero.
func checkCounts(r reporter, t *table, nv []int, count func(cell []string) (people, services int64)) {
	cell := make([]string, len(nv))
	coord := make([]int, len(nv))
	var walk func(d int)
	walk = func(d int) {
		if d == len(nv) {
			people, services := count(cell)
			allTotal := !slices.ContainsFunc(cell, func(s string) bool { return s != "" })
			for i, dm := range t.dims {
				if cell[i] == "" {
					coord[i] = total
					continue
				}
				j, ok := dm.index[cell[i]]
				if !ok {
					if people != 0 {
						r.Fatalf("value %q of %s with %d people is missing from the table", cell[i], dm.name, people)
					}
					return
				}
				coord[i] = j
			}
			idx, ok := t.byKey[key(coord)]
			switch {
			case !ok && (people != 0 || allTotal):
				r.Fatalf("cell %v with %d people is missing", cell, people)
			case ok && people == 0 && !allTotal:
				r.Fatalf("cell %v of zero people is present", cell)
			case ok && (t.cells[idx].People != people || t.cells[idx].Services != services):
				r.Fatalf("cell %v = %d people / %d services, brute force says %d / %d", cell, t.cells[idx].People, t.cells[idx].Services, people, services)
			}
			return
		}
		for v := -1; v < nv[d]; v++ {
			cell[d] = ""
			if v >= 0 {
				cell[d] = valueName(d, v)
			}
			walk(d + 1)
		}
	}
	walk(0)
}

const (
	maxHidden    = 16
	maxTotal     = 40
	attackBudget = 200_000
)

func TestSuppressBruteForceAttackerPeople(t *testing.T) {
	checks := rapidChecks(t, 1000)
	var checked, tooMany, tooBig, inconclusive, withHidden, partial, multiDraws int
	rapid.Check(t, func(rt *rapid.T) {
		names, nv, multi := genDims(rt, true)
		np := rapid.IntRange(1, 6).Draw(rt, "profiles")
		var us [][][]string
		for p := range np {
			vals := genValues(rt, nv, multi, fmt.Sprintf("profile %d", p))
			us = append(us, rep(rapid.IntRange(1, 8).Draw(rt, fmt.Sprintf("profile %d people", p)), vals...)...)
		}
		k := rapid.SampledFrom([]int64{3, 5}).Draw(rt, "k")
		if len(us) > maxTotal {
			tooBig++
			rt.Skipf("grand total %d > %d", len(us), maxTotal)
		}
		tab := buildPeopleTable(names, multi, us)
		checkCounts(rt, tab, nv, func(cell []string) (int64, int64) {
			var n int64
			for _, u := range us {
				if holdsCell(u, cell) {
					n++
				}
			}
			return n, 0
		})
		tab.suppress(k, []measure{peopleMeasure()})
		checkInvariants(rt, tab, k)
		hidden := len(hiddenLabels(tab))
		if hidden > maxHidden {
			tooMany++
			rt.Skipf("%d hidden cells > %d", hidden, maxHidden)
		}
		people := func(c *Cell) int64 { return c.People }
		if attackTable(rt, tab, "people", people, func(d *dim) bool { return !d.multi }, k, attackBudget).inconclusive {
			inconclusive++
			rt.Skipf("attack inconclusive")
		}
		checked++
		if hidden > 0 {
			withHidden++
		}
		if hidden > 0 && hidden < len(tab.cells) {
			partial++
		}
		if slices.Contains(multi, true) {
			multiDraws++
		}
	})
	t.Logf("attacked %d tables (%d with hidden cells, %d with hidden and shown ones, %d with a multi-valued dimension); filtered: %d too many hidden, %d too large, %d inconclusive",
		checked, withHidden, partial, multiDraws, tooMany, tooBig, inconclusive)
	if need := minChecked(checks); !t.Failed() && (checked < need || withHidden < need/2) {
		t.Errorf("only %d draws attacked (%d with hidden cells); want at least %d", checked, withHidden, need)
	}
}

// TestSuppressBruteForceAttackerServices is the services report: a person
// can receive several services, so people never add up along a dimension
// while services always do. Both must resist the attacker.
func TestSuppressBruteForceAttackerServices(t *testing.T) {
	checks := rapidChecks(t, 1000)
	var checked, filtered, inconclusive, withHidden, partial int
	rapid.Check(t, func(rt *rapid.T) {
		names, nv, multi := genDims(rt, false)
		np := rapid.IntRange(1, 6).Draw(rt, "profiles")
		var people [][][][]string // each person's services, each service's values
		for p := range np {
			ns := rapid.IntRange(1, 3).Draw(rt, fmt.Sprintf("profile %d services", p))
			var svcs [][][]string
			for s := range ns {
				svcs = append(svcs, genValues(rt, nv, multi, fmt.Sprintf("profile %d service %d", p, s)))
			}
			for range rapid.IntRange(1, 6).Draw(rt, fmt.Sprintf("profile %d people", p)) {
				people = append(people, svcs)
			}
		}
		k := rapid.SampledFrom([]int64{3, 5}).Draw(rt, "k")
		if len(people) > maxTotal {
			filtered++
			rt.Skipf("%d people > %d", len(people), maxTotal)
		}
		tab := servicesTable(names, people)
		checkCounts(rt, tab, nv, func(cell []string) (int64, int64) {
			var np, ns int64
			for _, svcs := range people {
				in := false
				for _, s := range svcs {
					if holdsCell(s, cell) {
						ns++
						in = true
					}
				}
				if in {
					np++
				}
			}
			return np, ns
		})
		tab.suppress(k, servicesMeasures())
		checkInvariants(rt, tab, k)
		hidden := len(hiddenLabels(tab))
		if hidden > maxHidden {
			filtered++
			rt.Skipf("%d hidden cells > %d", hidden, maxHidden)
		}
		ppl := func(c *Cell) int64 { return c.People }
		svc := func(c *Cell) int64 { return c.Services }
		if attackTable(rt, tab, "people", ppl, func(*dim) bool { return false }, k, attackBudget).inconclusive ||
			attackTable(rt, tab, "services", svc, func(*dim) bool { return true }, k, attackBudget).inconclusive {
			inconclusive++
			rt.Skipf("attack inconclusive")
		}
		checked++
		if hidden > 0 {
			withHidden++
		}
		if hidden > 0 && hidden < len(tab.cells) {
			partial++
		}
	})
	t.Logf("attacked %d tables (%d with hidden cells, %d with hidden and shown ones); filtered: %d, inconclusive %d",
		checked, withHidden, partial, filtered, inconclusive)
	if need := minChecked(checks); !t.Failed() && (checked < need || withHidden < need/2) {
		t.Errorf("only %d draws attacked (%d with hidden cells); want at least %d", checked, withHidden, need)
	}
}

// TestSuppressResistsLinearCombinations are tables the random attacker
// found: each hidden cell lies within bounds that interval propagation
// cannot narrow, yet adding and subtracting published totals pins one of
// them to a single value.
func TestSuppressResistsLinearCombinations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dims  []string
		multi []bool
		units [][][]string
		k     int64
	}{
		{
			// Shown: F|* = 5, *|A = 5, *|* = 8; every other cell is
			// hidden. F|A = F|* + *|A - *|* = 2, since every cell outside
			// row F and column A is zero.
			name: "assistance, two single-valued dimensions",
			dims: []string{"sex", "city"}, multi: []bool{false, false},
			units: units(rep(2, one("F"), one("A")), rep(1, one("F"), one("B")), rep(2, one("F"), one("C")),
				rep(1, one("M"), one("A")), rep(2, one("U"), one("A"))),
			k: 3,
		},
		{
			name: "assistance, two single-valued dimensions, k=5",
			dims: []string{"sex", "city"}, multi: []bool{false, false},
			units: units(rep(2, one("F"), one("A")), rep(1, one("F"), one("B")), rep(2, one("F"), one("C")),
				rep(1, one("M"), one("A")), rep(2, one("U"), one("A"))),
			k: 5,
		},
		{
			// Shown: KZ|* = 3, *|* = 4. *|F and *|M are KZ|F and KZ|M (no
			// one else is F or M), which add up to KZ|* = 3, so *|U = 1.
			name: "assistance, multi-valued citizenship by sex",
			dims: []string{"citizenship", "sex"}, multi: []bool{true, false},
			units: units(rep(2, one("KZ"), one("F")), rep(1, one("KZ"), one("M")), rep(1, set("UZ", "KG"), one("U"))),
			k:     3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := buildPeopleTable(tc.dims, tc.multi, tc.units)
			tab.suppress(tc.k, []measure{peopleMeasure()})
			checkInvariants(t, tab, tc.k)
			people := func(c *Cell) int64 { return c.People }
			if attackTable(t, tab, "people", people, func(d *dim) bool { return !d.multi }, tc.k, 1_000_000).inconclusive {
				t.Fatal("attack inconclusive")
			}
		})
	}
	t.Run("services, two dimensions", func(t *testing.T) {
		// Five people: two with one service at (a,x), one with services
		// at (a,y) and (b,x), two with services at (a,z) and (c,x). Shown:
		// a|* = 5 services, *|x = 5, *|* = 8; so a|x = 5 + 5 - 8 = 2.
		svc := func(r, c string) [][]string { return [][]string{one(r), one(c)} }
		people := [][][][]string{
			{svc("a", "x")}, {svc("a", "x")},
			{svc("a", "y"), svc("b", "x")},
			{svc("a", "z"), svc("c", "x")}, {svc("a", "z"), svc("c", "x")},
		}
		for _, k := range []int64{3, 5} {
			tab := servicesTable([]string{"provider", "service_type"}, people)
			tab.suppress(k, servicesMeasures())
			checkInvariants(t, tab, k)
			if attackTable(t, tab, "people", func(c *Cell) int64 { return c.People }, func(*dim) bool { return false }, k, 1_000_000).inconclusive ||
				attackTable(t, tab, "services", func(c *Cell) int64 { return c.Services }, func(*dim) bool { return true }, k, 1_000_000).inconclusive {
				t.Fatal("attack inconclusive")
			}
		}
	})
}

// servicesTable counts services and, once per cell, the people receiving
// them, as Services does.
func servicesTable(names []string, people [][][][]string) *table {
	tab := newTable(names, func(string) bool { return false })
	for _, svcs := range people {
		touched := map[*Cell]bool{}
		for _, s := range svcs {
			tab.add(s, func(c *Cell) { touched[c] = true; c.Services++ })
		}
		for c := range touched {
			c.People++
		}
	}
	tab.ensureTotal()
	return tab
}

// TestSuppressIntervalAudit checks the guarantee suppress documents (and
// which the brute-force attacker above strengthens): bounds propagated
// through every relation pin no hidden small count, for any of the
// measures. It uses its own propagation, not firstExposed.
func TestSuppressIntervalAudit(t *testing.T) {
	checks := rapidChecks(t, 1000)
	var checked, stalled, withHidden int
	rapid.Check(t, func(rt *rapid.T) {
		names, nv, multi := genDims(rt, true)
		services := rapid.Bool().Draw(rt, "services report")
		if services {
			multi = make([]bool, len(multi))
		}
		np := rapid.IntRange(1, 8).Draw(rt, "profiles")
		var people [][][][]string
		for p := range np {
			ns := 1
			if services {
				ns = rapid.IntRange(1, 3).Draw(rt, fmt.Sprintf("profile %d services", p))
			}
			var svcs [][][]string
			for s := range ns {
				svcs = append(svcs, genValues(rt, nv, multi, fmt.Sprintf("profile %d service %d", p, s)))
			}
			for range rapid.IntRange(1, 8).Draw(rt, fmt.Sprintf("profile %d people", p)) {
				people = append(people, svcs)
			}
		}
		k := rapid.SampledFrom([]int64{3, 5}).Draw(rt, "k")
		var tab *table
		var ms []measure
		if services {
			tab, ms = servicesTable(names, people), servicesMeasures()
		} else {
			var us [][][]string
			for _, svcs := range people {
				us = append(us, svcs[0])
			}
			tab, ms = buildPeopleTable(names, multi, us), []measure{peopleMeasure()}
		}
		tab.suppress(k, ms)
		checkInvariants(rt, tab, k)
		ppl := func(c *Cell) int64 { return c.People }
		audits := []struct {
			what     string
			truth    func(*Cell) int64
			additive func(*dim) bool
		}{{"people", ppl, func(d *dim) bool { return !d.multi }}}
		if services {
			audits = []struct {
				what     string
				truth    func(*Cell) int64
				additive func(*dim) bool
			}{
				{"people", ppl, func(*dim) bool { return false }},
				{"services", func(c *Cell) int64 { return c.Services }, func(*dim) bool { return true }},
			}
		}
		for _, ch := range audits {
			pinned, conclusive := intervalPinned(tab, ch.truth, ch.additive, k)
			if !conclusive {
				stalled++
				rt.Skip("propagation did not settle")
			}
			if len(pinned) > 0 {
				rt.Errorf("k=%d: bounds alone pin the hidden %s of %v\n%s", k, ch.what, pinned, dump(tab, ch.truth))
			}
		}
		checked++
		if len(hiddenLabels(tab)) > 0 {
			withHidden++
		}
	})
	t.Logf("audited %d tables (%d with hidden cells), %d skipped as unsettled", checked, withHidden, stalled)
	if need := minChecked(checks); !t.Failed() && (checked < need || withHidden < need/2) {
		t.Errorf("only %d draws audited (%d with hidden cells); want at least %d", checked, withHidden, need)
	}
}
