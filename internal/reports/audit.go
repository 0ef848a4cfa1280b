package reports

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// linear is one published relation as an attacker writes it over the hidden
// values y = x - 1 (hidden counts are at least 1): Σ coef·y = rhs, or ≤ rhs.
type linear struct {
	coef map[int]float64
	rhs  float64
}

// constraints turns the relations into linear constraints over the hidden
// cells of m: an additive total equals the sum of its parts; a total over a
// multi-valued dimension lies between its largest part and their sum.
func (t *table) constraints(rels []relation, m measure, hidden map[int]int) (eq, le []linear) {
	// term adds a cell with coefficient a to l: a variable when hidden, a
	// known value (moved to the right-hand side) otherwise.
	term := func(l *linear, cell int, a float64) {
		if v, ok := hidden[cell]; ok {
			l.coef[v] += a
			l.rhs -= a // x = y + 1
			return
		}
		l.rhs -= a * float64(m.get(t.cells[cell]))
	}
	involves := func(cells ...int) bool {
		for _, c := range cells {
			if _, ok := hidden[c]; ok {
				return true
			}
		}
		return false
	}
	for _, r := range rels {
		if !involves(r.members()...) {
			continue
		}
		// A total over a multi-valued dimension with a single part present
		// equals that part.
		if m.additive(t.dims[r.dim]) || len(r.children) == 1 {
			l := linear{coef: map[int]float64{}}
			for _, c := range r.children {
				term(&l, c, 1)
			}
			term(&l, r.parent, -1)
			eq = append(eq, l)
			continue
		}
		for _, c := range r.children {
			if involves(c, r.parent) {
				l := linear{coef: map[int]float64{}}
				term(&l, c, 1)
				term(&l, r.parent, -1)
				le = append(le, l)
			}
		}
		l := linear{coef: map[int]float64{}}
		term(&l, r.parent, 1)
		for _, c := range r.children {
			term(&l, c, -1)
		}
		le = append(le, l)
	}
	return eq, le
}

// firstPinned returns a hidden small count of m that linear reasoning over
// every published relation pins to one integer: the least and greatest value
// the linear relaxation allows round to the same number. -1 when none is.
// Each group of hidden cells tied together by relations is solved on its own.
//
// safe remembers the cells found not pinned: hiding more cells only widens
// what the rest may be, so they stay safe for the rest of the suppression.
func (t *table) firstPinned(rels []relation, m measure, k int64, safe map[int]bool) int {
	hidden := map[int]int{}
	var cells []int
	for i, c := range t.cells {
		if c.Suppressed {
			hidden[i] = len(cells)
			cells = append(cells, i)
		}
	}
	if len(cells) == 0 {
		return -1
	}
	eq, le := t.constraints(rels, m, hidden)
	// Union the variables that share a constraint.
	parent := make([]int, len(cells))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, l := range append(append([]linear{}, eq...), le...) {
		first := -1
		for v := range l.coef {
			if first < 0 {
				first = v
				continue
			}
			parent[find(v)] = find(first)
		}
	}
	groups := map[int][]int{}
	for v := range cells {
		groups[find(v)] = append(groups[find(v)], v)
	}
	determined := determinedVars(eq)
	for v, cell := range cells {
		c := t.cells[cell]
		if c.People < 1 || c.People >= k {
			continue
		}
		if determined[v] {
			return cell
		}
		if safe[cell] {
			continue
		}
		if g := groups[find(v)]; len(g) <= maxSolvedGroup && pinned(v, g, eq, le) {
			return cell
		}
		safe[cell] = true
	}
	return -1
}

// maxSolvedGroup bounds the groups whose linear relaxation is solved: the
// equalities are checked exactly at any size, the relaxation with the
// inequalities of multi-valued totals only for groups this small (larger
// ones take the simplex too long for a request).
const maxSolvedGroup = 24

// determinedVars reports the variables the equalities alone fix: those whose
// unit vector lies in the equalities' row space, found as a reduced row
// echelon row with a single non-zero entry.
func determinedVars(eqs []linear) map[int]bool {
	vars := map[int]int{}
	var order []int
	for _, l := range eqs {
		for x := range l.coef {
			if _, ok := vars[x]; !ok {
				vars[x] = len(order)
				order = append(order, x)
			}
		}
	}
	rows := make([][]float64, 0, len(eqs))
	for _, l := range eqs {
		row := make([]float64, len(order))
		for x, c := range l.coef {
			row[vars[x]] = c
		}
		rows = append(rows, row)
	}
	// Gauss-Jordan elimination to reduced row echelon form.
	r := 0
	for c := 0; c < len(order) && r < len(rows); c++ {
		p := -1
		for i := r; i < len(rows); i++ {
			if math.Abs(rows[i][c]) > 1e-9 && (p < 0 || math.Abs(rows[i][c]) > math.Abs(rows[p][c])) {
				p = i
			}
		}
		if p < 0 {
			continue
		}
		rows[r], rows[p] = rows[p], rows[r]
		f := rows[r][c]
		for j := range rows[r] {
			rows[r][j] /= f
		}
		for i := range rows {
			if i != r && math.Abs(rows[i][c]) > 1e-12 {
				g := rows[i][c]
				for j := range rows[i] {
					rows[i][j] -= g * rows[r][j]
				}
			}
		}
		r++
	}
	out := map[int]bool{}
	for _, row := range rows[:r] {
		only := -1
		for j, x := range row {
			if math.Abs(x) > 1e-9 {
				if only >= 0 {
					only = -2
					break
				}
				only = j
			}
		}
		if only >= 0 {
			out[order[only]] = true
		}
	}
	return out
}

// pinned solves min y_v and max y_v over the group's constraints. A solve
// that fails (other than being unbounded above) counts as pinned, so doubt
// always leads to more suppression.
func pinned(v int, group []int, eq, le []linear) bool {
	inGroup := map[int]bool{}
	for _, g := range group {
		inGroup[g] = true
	}
	// A constraint's variables all lie in one group (groups are joined by
	// constraints), so one variable tells.
	ofGroup := func(ls []linear) []linear {
		var out []linear
		for _, l := range ls {
			for x := range l.coef {
				if inGroup[x] {
					out = append(out, l)
				}
				break
			}
		}
		return out
	}
	eqs, les := ofGroup(eq), ofGroup(le)
	// Columns: the group's variables that appear in some constraint (the
	// solver refuses empty columns), then one slack per inequality.
	col := map[int]int{}
	for _, l := range append(append([]linear{}, eqs...), les...) {
		for x, c := range l.coef {
			if _, ok := col[x]; !ok && c != 0 {
				col[x] = len(col)
			}
		}
	}
	if _, ok := col[v]; !ok {
		return false // nothing bounds it
	}
	eqs = independent(eqs, col)
	nVars := len(col)
	a := mat.NewDense(len(eqs)+len(les), nVars+len(les), nil)
	b := make([]float64, len(eqs)+len(les))
	for r, l := range eqs {
		for x, c := range l.coef {
			a.Set(r, col[x], c)
		}
		b[r] = l.rhs
	}
	for i, l := range les {
		r := len(eqs) + i
		for x, c := range l.coef {
			a.Set(r, col[x], c)
		}
		a.Set(r, nVars+i, 1)
		b[r] = l.rhs
	}
	obj := make([]float64, nVars+len(les))
	obj[col[v]] = 1
	lo, _, err := lp.Simplex(obj, a, b, 1e-10, nil)
	if err != nil {
		return true
	}
	obj[col[v]] = -1
	negHi, _, err := lp.Simplex(obj, a, b, 1e-10, nil)
	switch {
	case errors.Is(err, lp.ErrUnbounded):
		return false
	case err != nil:
		return true
	}
	return math.Ceil(lo-1e-6) >= math.Floor(-negHi+1e-6)
}

// independent keeps a linearly independent subset of the equalities (the
// solver needs full row rank), by Gaussian elimination.
func independent(eqs []linear, col map[int]int) []linear {
	var basis [][]float64
	var pivots []int
	var out []linear
	for _, l := range eqs {
		row := make([]float64, len(col))
		for x, c := range l.coef {
			row[col[x]] = c
		}
		for i, p := range pivots {
			if f := row[p]; f != 0 {
				for j := range row {
					row[j] -= f * basis[i][j]
				}
			}
		}
		p := -1
		for j, x := range row {
			if math.Abs(x) > 1e-9 {
				p = j
				break
			}
		}
		if p < 0 {
			continue
		}
		for j := range row {
			row[j] /= row[p]
		}
		basis, pivots = append(basis, row), append(pivots, p)
		out = append(out, l)
	}
	return out
}
