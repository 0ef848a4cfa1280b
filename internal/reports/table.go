package reports

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// total is the coordinate of a dimension's total in a cell.
const total = -1

// dim is one dimension of a table: its name, the values seen, and whether a
// counted unit can hold several of its values at once (then the values of a
// total do not add up to it).
type dim struct {
	name   string
	multi  bool
	values []string
	index  map[string]int
}

// Cell is one row of a report: a value (or the total) of each dimension and
// its measures.
type Cell struct {
	coord    []int
	People   int64
	Services int64
	Nights   int64
	Cost     map[string]int64
	// Suppressed cells are published without their measures.
	Suppressed bool
}

// table holds every combination of the dimensions' values and totals that
// has a non-zero count; absent combinations are zero.
type table struct {
	dims  []*dim
	cells []*Cell
	byKey map[string]int
}

func newTable(names []string, multi func(string) bool) *table {
	t := &table{byKey: map[string]int{}}
	for _, n := range names {
		t.dims = append(t.dims, &dim{name: n, multi: multi(n), index: map[string]int{}})
	}
	return t
}

func (d *dim) indexOf(v string) int {
	i, ok := d.index[v]
	if !ok {
		i = len(d.values)
		d.values = append(d.values, v)
		d.index[v] = i
	}
	return i
}

func key(coord []int) string {
	var b strings.Builder
	for i, c := range coord {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(c))
	}
	return b.String()
}

func (t *table) cell(coord []int) *Cell {
	k := key(coord)
	if i, ok := t.byKey[k]; ok {
		return t.cells[i]
	}
	c := &Cell{coord: slices.Clone(coord)}
	t.byKey[k] = len(t.cells)
	t.cells = append(t.cells, c)
	return c
}

// add applies f once to every cell a unit with these values falls in: for
// each dimension, each of its values (a unit holds one or, for a
// multi-valued dimension, several distinct values) and the total. A unit is
// therefore counted once in every total, however many values it holds.
func (t *table) add(values [][]string, f func(*Cell)) {
	idx := make([][]int, len(values))
	for i, vs := range values {
		seen := map[int]bool{}
		for _, v := range vs {
			j := t.dims[i].indexOf(v)
			if !seen[j] {
				seen[j] = true
				idx[i] = append(idx[i], j)
			}
		}
		idx[i] = append(idx[i], total)
	}
	coord := make([]int, len(values))
	var walk func(d int)
	walk = func(d int) {
		if d == len(idx) {
			f(t.cell(coord))
			return
		}
		for _, j := range idx[d] {
			coord[d] = j
			walk(d + 1)
		}
	}
	walk(0)
}

// ensureTotal makes sure the grand-total cell exists (an empty report still
// answers with a total of zero).
func (t *table) ensureTotal() {
	coord := make([]int, len(t.dims))
	for i := range coord {
		coord[i] = total
	}
	t.cell(coord)
}

// Group is the value of each dimension of c; nil is the total.
func (t *table) group(c *Cell) map[string]*string {
	g := make(map[string]*string, len(t.dims))
	for i, d := range t.dims {
		if c.coord[i] == total {
			g[d.name] = nil
			continue
		}
		v := d.values[c.coord[i]]
		g[d.name] = &v
	}
	return g
}

// sorted returns the cells ordered by each dimension's value, totals last.
func (t *table) sorted() []*Cell {
	out := slices.Clone(t.cells)
	slices.SortFunc(out, func(a, b *Cell) int {
		for i, d := range t.dims {
			x, y := a.coord[i], b.coord[i]
			if x == y {
				continue
			}
			if x == total {
				return 1
			}
			if y == total {
				return -1
			}
			return cmp.Compare(d.values[x], d.values[y])
		}
		return 0
	})
	return out
}
