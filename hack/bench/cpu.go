package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux).
const clockTicks = 100

// cpuTimes is the CPU time used so far by the processes that share the machine during a run: the
// bench itself (with the emulated tenant, which runs in it), the manager, and the control plane
// the bench started (kube-apiserver, etcd), by process name.
type cpuTimes map[string]time.Duration

// readCPUTimes reads the CPU time (user + system) of this process, of the manager and of every
// child process of this one.
func readCPUTimes(manager int) cpuTimes {
	t := cpuTimes{}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, used, ok := procStat(pid)
		if !ok {
			continue
		}
		switch {
		case pid == self:
			t["bench + emulator"] += used
		case pid == manager:
			t["manager"] += used
		case ppid == self:
			t[comm] += used
		}
	}
	return t
}

// procStat reads a process's name, parent and CPU time from /proc/<pid>/stat.
func procStat(pid int) (comm string, ppid int, used time.Duration, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	comm = s[open+1 : closing]
	// After the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime.
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return comm, ppid, time.Duration(utime+stime) * time.Second / clockTicks, true
}

// since tells the CPU each process used between before and t, and its share of wall time in cores.
func (t cpuTimes) since(before cpuTimes, wall time.Duration) string {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return t[names[i]]-before[names[i]] > t[names[j]]-before[names[j]] })
	parts := make([]string, 0, len(names))
	for _, name := range names {
		used := t[name] - before[name]
		parts = append(parts, fmt.Sprintf("%s %.1f s (%.2f cores)", name, used.Seconds(), used.Seconds()/wall.Seconds()))
	}
	return strings.Join(parts, ", ")
}

// apiServerCPU records d of the API server's CPU profile into file (its /debug/pprof, served to
// an administrator), so that what the control plane spends converging is seen, not guessed.
func apiServerCPU(cfg *rest.Config, d time.Duration, file string) *cpuProfile {
	return recordCPU(d, file, func() (*http.Client, string, error) {
		client, err := rest.HTTPClientFor(cfg)
		return client, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(cfg.Host, "/"), int(d.Seconds())), err
	})
}
