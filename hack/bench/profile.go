package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// profiler reads the manager's Go profiles from its --pprof-bind-address and summarises them
// with go tool pprof, against the binary that was run so that every symbol resolves.
type profiler struct {
	addr, binary string
}

func (p profiler) url(path string) string { return "http://" + p.addr + "/debug/pprof/" + path }

// waitUp waits until the endpoint answers.
func (p profiler) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(p.url(""))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager's pprof endpoint %s is not up after %s (see its log): %w", p.addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetch saves one profile (path with its query) to file.
func (p profiler) fetch(client *http.Client, path, file string) error {
	return fetchTo(client, p.url(path), file)
}

// fetchTo saves what url answers to file.
func fetchTo(client *http.Client, url, file string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// cpuProfile is a CPU profile being recorded by a process (the manager, or the API server).
type cpuProfile struct {
	file string
	done chan struct{}
	err  error
}

// startCPU starts recording d of the manager's CPU profile into file, or returns nil for d <= 0.
func (p profiler) startCPU(d time.Duration, file string) *cpuProfile {
	return recordCPU(d, file, func() (*http.Client, string, error) {
		return &http.Client{}, p.url(fmt.Sprintf("profile?seconds=%d", int(d.Seconds()))), nil
	})
}

// recordCPU records d of CPU profile into file from the /debug/pprof/profile URL endpoint gives
// (with the client to ask it), or returns nil for d <= 0. The process samples for d whatever
// happens meanwhile, and answers only then: the caller waits for it.
func recordCPU(d time.Duration, file string, endpoint func() (*http.Client, string, error)) *cpuProfile {
	if d <= 0 {
		return nil
	}
	c := &cpuProfile{file: file, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		client, url, err := endpoint()
		if err != nil {
			c.err = err
			return
		}
		client.Timeout = d + time.Minute
		c.err = fetchTo(client, url, file)
	}()
	return c
}

func (c *cpuProfile) wait() error {
	<-c.done
	return c.err
}

// heap saves the heap profile after a garbage collection (gc=1), so that in-use figures do not
// include garbage not yet collected.
func (p profiler) heap(file string) (string, error) {
	return file, p.fetch(&http.Client{Timeout: time.Minute}, "heap?gc=1", file)
}

// top runs go tool pprof -top with args on a profile file.
func (p profiler) top(file string, args ...string) (string, error) {
	args = append([]string{"tool", "pprof", "-top"}, args...)
	if p.binary != "" { // else the profile's own symbols (a process of another binary)
		args = append(args, p.binary)
	}
	cmd := exec.Command("go", append(args, file)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("go tool pprof: %v: %s", err, stderr)
	}
	return string(out), nil
}

// printTop prints the summary and table of go tool pprof -top, indented, without the lines that
// only identify the profile (file, build id, type, time).
func printTop(out string, err error) {
	if err != nil {
		fmt.Printf("  unavailable: %v\n", err)
		return
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "File:"), strings.HasPrefix(line, "Build ID:"),
			strings.HasPrefix(line, "Type:"), strings.HasPrefix(line, "Time:"):
			continue
		}
		fmt.Printf("  %s\n", line)
	}
}

// pprofTotal finds the profile's total in go tool pprof's "Showing nodes accounting for X, Y%
// of Z total" line.
var pprofTotal = regexp.MustCompile(`of (\S+) total`)

// printHeap prints the in-use total of a heap profile and its top 15 by inuse_space.
func printHeap(p profiler, file string, fetchErr error) {
	if fetchErr != nil {
		fmt.Printf("  unavailable: %v\n", fetchErr)
		return
	}
	out, err := p.top(file, "-sample_index=inuse_space", "-nodecount=15")
	if err == nil {
		if m := pprofTotal.FindStringSubmatch(out); m != nil {
			fmt.Printf("  in-use heap total: %s (profile: %s)\n", m[1], file)
		}
	}
	printTop(out, err)
}

// runtimeHeap reads the runtime's own heap figures (runtime.MemStats, after a GC), which the
// heap profile's debug=1 text form ends with: the profile's in-use total is what was sampled
// from live allocations, these are exact.
func (p profiler) runtimeHeap() string {
	resp, err := (&http.Client{Timeout: time.Minute}).Get(p.url("heap?gc=1&debug=1"))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer resp.Body.Close()
	stats := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24) // stack lines can be long
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(value, 10, 64); err == nil {
			stats[name] = v
		}
	}
	if _, ok := stats["HeapInuse"]; !ok {
		return "unknown (no runtime.MemStats in the heap profile)"
	}
	mib := func(name string) string { return fmt.Sprintf("%.1f MiB", float64(stats[name])/(1<<20)) }
	return fmt.Sprintf("HeapAlloc %s (live objects), HeapInuse %s, HeapSys %s, after %d GCs (runtime.MemStats)",
		mib("HeapAlloc"), mib("HeapInuse"), mib("HeapSys"), stats["NumGC"])
}

// livePeak samples the manager's live heap (as of its last garbage collection, so that no
// collection is forced) every interval until stop is closed, and keeps the profile of the
// largest: what was live when the operator held the most.
type livePeak struct {
	bytes int64
	at    time.Duration
	file  string
	err   error
	done  chan struct{}
}

// print waits for the sampling to end, then prints the largest live heap it saw (during names the
// phase, since what its start was) and that heap's top 15.
func (l *livePeak) print(prof profiler, during, since string) {
	<-l.done
	fmt.Printf("manager's largest live heap %s (sampled every 2 s, as of its last GC): %.1f MiB, %s after %s, top 15 by inuse_space:\n",
		during, float64(l.bytes)/(1<<20), l.at.Round(time.Second), since)
	printHeap(prof, l.file, l.err)
}

func (p profiler) sampleLivePeak(interval time.Duration, file string, stop <-chan struct{}) *livePeak {
	l := &livePeak{file: file, done: make(chan struct{})}
	start := time.Now()
	client := &http.Client{Timeout: time.Minute}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			raw, live, err := p.liveHeap(client)
			if err != nil {
				l.err = err
				return
			}
			if live > l.bytes {
				l.bytes, l.at = live, time.Since(start)
				if l.err = os.WriteFile(file, raw, 0o644); l.err != nil {
					return
				}
			}
		}
	}()
	return l
}

// liveHeap fetches the heap profile (binary: its text form allocates megabytes in the manager)
// and sums its in-use bytes.
func (p profiler) liveHeap(client *http.Client) ([]byte, int64, error) {
	resp, err := client.Get(p.url("heap"))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	prof, err := profile.ParseData(raw)
	if err != nil {
		return nil, 0, err
	}
	index := -1
	for i, st := range prof.SampleType {
		if st.Type == "inuse_space" {
			index = i
		}
	}
	if index < 0 {
		return nil, 0, errors.New("the heap profile has no inuse_space")
	}
	var live int64
	for _, s := range prof.Sample {
		live += s.Value[index]
	}
	return raw, live, nil
}
