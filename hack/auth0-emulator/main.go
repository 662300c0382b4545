// Command auth0-emulator serves the project's emulated Auth0 Management API on its own, for
// the demo, benchmarks and users' own integration suites.
//
//	bin/auth0-emulator --listen 127.0.0.1:8443 --tls-ca-out /tmp/ca.pem --client id:secret --seed seed.yaml
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/usersync/auth0-operator/pkg/emulator"
)

type clientFlags map[string]emulator.Client

func (c clientFlags) String() string { return fmt.Sprintf("%d clients", len(c)) }

func (c clientFlags) Set(v string) error {
	id, secret, ok := strings.Cut(v, ":")
	if !ok || id == "" || secret == "" {
		return fmt.Errorf("want ID:SECRET")
	}
	c[id] = emulator.Client{Secret: secret}
	return nil
}

// classFlags parses --rate-limit-class CLASS=PER_SECOND/PER_MINUTE (0 for no limit).
type classFlags map[string]emulator.RateLimit

func (c classFlags) String() string { return fmt.Sprintf("%d classes", len(c)) }

func (c classFlags) Set(v string) error {
	class, limits, ok := strings.Cut(v, "=")
	var rl emulator.RateLimit
	if _, err := fmt.Sscanf(limits, "%d/%d", &rl.PerSecond, &rl.PerMinute); !ok || err != nil {
		return fmt.Errorf("want CLASS=PER_SECOND/PER_MINUTE, e.g. search=10/0")
	}
	c[class] = rl
	return nil
}

func main() {
	clients := clientFlags{}
	classes := classFlags{}
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	caOut := flag.String("tls-ca-out", "", "serve HTTPS with a freshly generated CA, and write the CA's PEM to this file")
	domain := flag.String("domain", "", "tenant domain for the token audience https://DOMAIN/api/v2/ (default: the Host of each request)")
	seedFile := flag.String("seed", "", "YAML or JSON file of connections, resource servers, roles and users")
	stateFile := flag.String("state-file", "", "keep the tenant in this file across restarts (passwords are not saved)")
	perSecond := flag.Int("rate-limit-per-second", 0, "requests per second before 429 (0: unlimited)")
	perMinute := flag.Int("rate-limit-per-minute", 0, "requests per minute before 429 (0: unlimited)")
	faultRate := flag.Float64("fault-rate", 0, "fraction of requests answered with --fault-status")
	faultStatus := flag.Int("fault-status", 503, "status of injected errors (500, 503 or 429)")
	faultLatency := flag.Duration("fault-latency", 0, "latency added to every request")
	lostRate := flag.Float64("lost-response-rate", 0, "fraction of successful writes whose response is lost after the write committed")
	lostAs504 := flag.Bool("lost-response-504", false, "answer lost responses with 504 instead of dropping the connection")
	faultSeed := flag.Uint64("fault-seed", 0, "seed of the fault injector's random choices (0: a fixed default, so runs repeat)")
	faultRoutes := flag.String("fault-routes", "", `comma-separated route patterns the faults apply to, e.g. "POST /api/v2/users,PATCH /api/v2/users/{id}" (default: every Management API route)`)
	lag := flag.Duration("search-index-lag", 0, "delay before writes show in users search")
	quiet := flag.Bool("quiet", false, "do not log each request")
	flag.Var(clients, "client", "ID:SECRET of a client with every scope (repeatable)")
	flag.Var(classes, "rate-limit-class", "CLASS=PER_SECOND/PER_MINUTE limit for an endpoint class: token, users, users-by-email, search, roles, resource-servers (repeatable)")
	flag.Parse()

	if len(clients) == 0 {
		log.Fatal("auth0-emulator: give at least one --client ID:SECRET")
	}
	cfg := emulator.Config{
		Domain:         *domain,
		Clients:        clients,
		RateLimit:      emulator.RateLimit{PerSecond: *perSecond, PerMinute: *perMinute, Classes: classes},
		SearchIndexLag: *lag,
		StateFile:      *stateFile,
		Faults: emulator.Faults{
			Routes:    splitList(*faultRoutes),
			ErrorRate: *faultRate, ErrorStatus: *faultStatus, Latency: *faultLatency,
			LostResponseRate: *lostRate, LostAs504: *lostAs504, Seed: *faultSeed,
		},
	}
	if !*quiet {
		// One line per request: method, path, status and duration; never a body or a header.
		cfg.Logf = log.Printf
	}
	e, err := emulator.New(cfg)
	if err != nil {
		log.Fatalf("auth0-emulator: %v", err)
	}
	if *seedFile != "" {
		seed, err := emulator.LoadSeed(*seedFile)
		if err != nil {
			log.Fatalf("auth0-emulator: %v", err)
		}
		if err := e.Seed(seed); err != nil {
			log.Fatalf("auth0-emulator: seed: %v", err)
		}
	}
	var base string
	if *caOut != "" {
		base, err = e.StartTLS(*listen, *caOut)
	} else {
		base, err = e.Start(*listen)
	}
	if err != nil {
		log.Fatalf("auth0-emulator: %v", err)
	}
	log.Printf("auth0-emulator: serving the Management API at %s/api/v2/ (tokens at %s/oauth/token)", base, base)
	if *caOut != "" {
		log.Printf("auth0-emulator: CA written to %s", *caOut)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Printf("auth0-emulator: %v", err)
		}
	case <-time.After(5 * time.Second):
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
