package reports

import (
	"cmp"
	"slices"
)

// measure is a count an attacker could try to recover from published totals:
// how to read it from a cell, and whether along a dimension the children of
// a total add up to it (else a total only lies between its largest child and
// the sum of its children).
type measure struct {
	get      func(*Cell) int64
	additive func(d *dim) bool
}

// relation ties a total to the cells it is the total of, along one dimension.
type relation struct {
	dim      int
	parent   int
	children []int
}

// relations lists, for every cell that is a total along some dimension, the
// cells it totals. Zero cells are absent from the table and known to be zero.
func (t *table) relations() []relation {
	byParent := map[[2]int]*relation{}
	var order [][2]int
	for i, c := range t.cells {
		for d, v := range c.coord {
			if v == total {
				continue
			}
			pc := slices.Clone(c.coord)
			pc[d] = total
			p := t.byKey[key(pc)]
			k := [2]int{p, d}
			r, ok := byParent[k]
			if !ok {
				r = &relation{dim: d, parent: p}
				byParent[k] = r
				order = append(order, k)
			}
			r.children = append(r.children, i)
		}
	}
	out := make([]relation, 0, len(order))
	for _, k := range order {
		out = append(out, *byParent[k])
	}
	return out
}

// suppress hides every cell whose count of people is from 1 to k-1
// (primary suppression), then hides further cells (complementary
// suppression) until no hidden count can be worked out from what is shown:
// every total relation holds either no hidden cell or at least two, and
// neither bounds propagated through the relations nor the linear relaxation
// of all of them together (hidden counts are at least 1) pins a hidden small
// count to a single value, for any of the measures.
func (t *table) suppress(k int64, measures []measure) {
	for _, c := range t.cells {
		if c.People >= 1 && c.People < k {
			c.Suppressed = true
		}
	}
	rels := t.relations()
	safe := make([]map[int]bool, len(measures))
	for i := range safe {
		safe[i] = map[int]bool{}
	}
	for range len(t.cells) + 1 {
		t.complete(rels)
		exposed := -1
		for i, m := range measures {
			// Bounds first (cheap), then linear reasoning across relations.
			if e := t.firstExposed(rels, m, k); e >= 0 {
				exposed = e
				break
			}
			if e := t.firstPinned(rels, m, k, safe[i]); e >= 0 {
				exposed = e
				break
			}
		}
		if exposed < 0 {
			return
		}
		if !t.hideNeighbour(rels, exposed) {
			// Nothing left to hide around it: hide everything rather than
			// publish a recoverable count.
			for _, c := range t.cells {
				c.Suppressed = true
			}
			return
		}
	}
}

// complete hides one more cell in every relation that hides exactly one,
// until none does.
func (t *table) complete(rels []relation) {
	for changed := true; changed; {
		changed = false
		for _, r := range rels {
			hidden := 0
			for _, m := range r.members() {
				if t.cells[m].Suppressed {
					hidden++
				}
			}
			if hidden == 1 && t.hideSmallest(r) {
				changed = true
			}
		}
	}
}

func (r relation) members() []int { return append([]int{r.parent}, r.children...) }

// hideSmallest hides the shown child of r with the fewest people (ties by
// position, so the result is deterministic), else r's total.
func (t *table) hideSmallest(r relation) bool {
	best := -1
	for _, c := range r.children {
		cell := t.cells[c]
		if cell.Suppressed || cell.People == 0 {
			continue
		}
		if best < 0 || cmp.Compare(cell.People, t.cells[best].People) < 0 {
			best = c
		}
	}
	if best < 0 {
		if t.cells[r.parent].Suppressed {
			return false
		}
		best = r.parent
	}
	t.cells[best].Suppressed = true
	return true
}

// hideNeighbour hides one more cell in a relation that holds cell i.
func (t *table) hideNeighbour(rels []relation, i int) bool {
	for _, r := range rels {
		if slices.Contains(r.members(), i) && t.hideSmallest(r) {
			return true
		}
	}
	return false
}

const unbounded = int64(1) << 50

// firstExposed propagates bounds on the hidden values of m through every
// relation until they settle, and returns a hidden cell whose value is
// pinned to one number, among those hidden for a small count of people
// (-1 when none is).
func (t *table) firstExposed(rels []relation, m measure, k int64) int {
	lo := make([]int64, len(t.cells))
	hi := make([]int64, len(t.cells))
	for i, c := range t.cells {
		if c.Suppressed {
			lo[i], hi[i] = 1, unbounded
		} else {
			lo[i], hi[i] = m.get(c), m.get(c)
		}
	}
	tighten := func(i int, l, h int64) bool {
		changed := false
		if l > lo[i] {
			lo[i], changed = l, true
		}
		if h < hi[i] {
			hi[i], changed = h, true
		}
		return changed
	}
	// sums returns the sum of the children's bounds, with the upper sum as a
	// finite part and a count of unbounded children.
	type sums struct {
		lo, hiFinite int64
		unboundedHi  int
	}
	sumOf := func(xs []int) sums {
		var s sums
		for _, x := range xs {
			s.lo = min(s.lo+lo[x], unbounded)
			if hi[x] >= unbounded {
				s.unboundedHi++
			} else {
				s.hiFinite += hi[x]
			}
		}
		return s
	}
	hiWithout := func(s sums, c int) int64 {
		if hi[c] >= unbounded {
			s.unboundedHi--
		} else {
			s.hiFinite -= hi[c]
		}
		if s.unboundedHi > 0 {
			return unbounded
		}
		return s.hiFinite
	}
	for pass := 0; pass < 200; pass++ {
		changed := false
		for _, r := range rels {
			additive := m.additive(t.dims[r.dim])
			s := sumOf(r.children)
			sumHi := unbounded
			if s.unboundedHi == 0 {
				sumHi = min(s.hiFinite, unbounded)
			}
			p := r.parent
			if additive {
				changed = tighten(p, s.lo, sumHi) || changed
			} else {
				var maxLo int64
				for _, c := range r.children {
					maxLo = max(maxLo, lo[c])
				}
				changed = tighten(p, maxLo, sumHi) || changed
			}
			for _, c := range r.children {
				l := lo[p] - hiWithout(s, c)
				h := hi[p]
				if additive {
					h = hi[p] - (s.lo - lo[c])
				}
				changed = tighten(c, l, h) || changed
			}
		}
		if !changed {
			break
		}
	}
	for i, c := range t.cells {
		if c.Suppressed && c.People >= 1 && c.People < k && lo[i] == hi[i] {
			return i
		}
	}
	return -1
}
