// Command emulator-bench measures the emulator over HTTP on loopback: requests per second for
// GET user and for a users search, and search latency over a large tenant. The emulator must
// never be the bottleneck of the operator's benchmarks.
//
//	go run ./hack/emulator-bench --users 100000 --duration 3s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usersync/auth0-operator/pkg/emulator"
)

func main() {
	users := flag.Int("users", 100_000, "users in the tenant")
	duration := flag.Duration("duration", 3*time.Second, "measurement time per scenario")
	workers := flag.Int("workers", 8, "concurrent clients")
	flag.Parse()

	e, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{"bench": {Secret: "bench"}}})
	if err != nil {
		log.Fatal(err)
	}
	base, err := e.Start("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	start := time.Now()
	ids := make([]string, *users)
	for i := range ids {
		ids[i], err = e.CreateUser(emulator.SeedUser{
			Email:        fmt.Sprintf("user%06d@example.com", i),
			UserMetadata: map[string]any{"team": []string{"platform", "data", "web"}[i%3]},
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("seeded %d users in %s\n", *users, time.Since(start).Round(time.Millisecond))

	u, _ := url.Parse(base)
	token := getToken(base, u.Host)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	get := func(path string) time.Duration {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			log.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return time.Since(t0)
	}

	var n atomic.Int64
	scenario := func(name string, path func(i int64) string) {
		n.Store(0)
		var mu sync.Mutex
		var lat []time.Duration
		deadline := time.Now().Add(*duration)
		var wg sync.WaitGroup
		for range *workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(deadline) {
					i := n.Add(1)
					mine = append(mine, get(path(i)))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("%-44s %8.0f req/s   p50 %-10s p99 %s\n", name, float64(len(lat))/duration.Seconds(),
			lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
	}
	scenario("GET /api/v2/users/{id}", func(i int64) string {
		return "/api/v2/users/" + url.PathEscape(ids[int(i)%len(ids)])
	})
	scenario("search user_id:(50 ids)", func(i int64) string {
		var q []string
		for j := range 50 {
			q = append(q, `"`+ids[(int(i)*50+j)%len(ids)]+`"`)
		}
		return "/api/v2/users?search_engine=v3&per_page=100&q=" + url.QueryEscape("user_id:("+strings.Join(q, " OR ")+")")
	})
	scenario(fmt.Sprintf("search email:\"…\" over %d users", *users), func(i int64) string {
		return "/api/v2/users?search_engine=v3&q=" + url.QueryEscape(fmt.Sprintf(`email:"user%06d@example.com"`, int(i)%len(ids)))
	})
	scenario(fmt.Sprintf("search user_metadata.team:data (%d users)", *users), func(int64) string {
		return "/api/v2/users?search_engine=v3&per_page=100&q=" + url.QueryEscape(`user_metadata.team:data`)
	})
}

func getToken(base, host string) string {
	body := fmt.Sprintf(`{"grant_type":"client_credentials","client_id":"bench","client_secret":"bench","audience":"https://%s/api/v2/"}`, host)
	resp, err := http.Post(base+"/oauth/token", "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		log.Fatal(err)
	}
	return t.AccessToken
}
