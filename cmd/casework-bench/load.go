package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/casework/casework/internal/app"
)

// serveChild runs the API the way 'casework serve' does, in this separate
// process, so that the load generator's memory and the server's are apart.
func serveChild(ctx context.Context, a *app.App, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is a running child server.
type server struct {
	cmd  *exec.Cmd
	base string
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer starts this binary as the server on the same database and
// waits until it is ready.
func startServer(o options, stderr io.Writer) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve-child", addr, "-size", o.size, "-database-url", o.databaseURL, "-data-dir", o.dataDir}
	if o.pprofAddr != "" {
		args = append(args, "-pprof", o.pprofAddr)
	}
	cmd := exec.Command(self, args...)
	cmd.Env, cmd.Stderr = os.Environ(), stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(s.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("the server did not get ready within 30 s")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// peakRSS is the server's resident memory high-water mark (VmHWM).
func (s *server) peakRSS() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// scenario is one kind of request the load generator sends.
type scenario struct {
	name    string
	targets []vegeta.Target
}

// loadScenarios builds the request mixes of quality.md against s: as a
// caseworker of the first organisation, reads of its cases (each audited),
// pages of its case list and new services on its cases.
func loadScenarios(s *server) ([]scenario, error) {
	token, err := signIn(s.base, "caseworker@bench01.bench.example")
	if err != nil {
		return nil, err
	}
	h := http.Header{"Authorization": {"Bearer " + token}}
	res, err := get(s.base+"/api/v1/cases?limit=200", h)
	if err != nil {
		return nil, err
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(res, &page); err != nil || len(page.Items) == 0 {
		return nil, fmt.Errorf("no cases to load: %v %.200s", err, res)
	}
	var reads, writes []vegeta.Target
	jsonH := h.Clone()
	jsonH.Set("Content-Type", "application/json")
	body := []byte(`{"type":"legal","status":"completed","started_on":"2026-01-05","ended_on":"2026-01-06"}`)
	for _, c := range page.Items {
		reads = append(reads, vegeta.Target{Method: http.MethodGet, URL: s.base + "/api/v1/cases/" + c.ID, Header: h})
		writes = append(writes, vegeta.Target{Method: http.MethodPost, URL: s.base + "/api/v1/cases/" + c.ID + "/services", Header: jsonH, Body: body})
	}
	list := []vegeta.Target{{Method: http.MethodGet, URL: s.base + "/api/v1/cases?limit=50", Header: h}}
	return []scenario{{"GET /cases/{id}", reads}, {"GET /cases?limit=50", list}, {"POST /cases/{id}/services", writes}}, nil
}

func get(url string, h http.Header) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(res.Body)
}

// attack sends sc's requests round robin as fast as conns connections
// allow, first for warm (not measured), then for d.
func attack(sc scenario, conns int, warm, d time.Duration) vegeta.Metrics {
	run := func(d time.Duration) vegeta.Metrics {
		a := vegeta.NewAttacker(vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)),
			vegeta.Connections(conns), vegeta.MaxConnections(conns), vegeta.Timeout(30*time.Second), vegeta.KeepAlive(true))
		var m vegeta.Metrics
		for r := range a.Attack(vegeta.NewStaticTargeter(sc.targets...), vegeta.Rate{Freq: 0}, d, sc.name) {
			m.Add(r)
		}
		m.Close()
		return m
	}
	if warm > 0 {
		run(warm)
	}
	return run(d)
}
