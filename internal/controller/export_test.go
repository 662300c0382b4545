package controller_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/export"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

var _ = Describe("export", func() {
	It("round-trips a seeded tenant: the output applies cleanly and reconciles with zero writes", func() {
		ns := newNamespace()
		var ids []string
		for i, team := range []string{"platform", "platform", "data", "platform"} {
			id, err := tenant.CreateUser(emulator.SeedUser{
				Email: fmt.Sprintf("export-%d@example.com", i), Name: fmt.Sprintf("Exported %d", i), Password: testPassword,
				UserMetadata: map[string]any{"theme": "dark", "prefs": map[string]any{"lang": "fr"}},
				AppMetadata:  map[string]any{"team": team},
			})
			Expect(err).NotTo(HaveOccurred())
			ids = append(ids, id)
		}
		c, err := auth0.NewProvider(auth0.ProviderOptions{}).ClientFor(ctx, auth0.Tenant{Domain: tenantURL, ClientID: testClientID, ClientSecret: testClientSecret})
		Expect(err).NotTo(HaveOccurred())
		results, err := export.Users(context.Background(), c, export.Options{
			Query: `app_metadata.team:platform AND email:export-*`, Namespace: ns, ClusterName: "envtest", Claim: true,
		})
		Expect(err).NotTo(HaveOccurred())
		var out bytes.Buffer
		Expect(export.WriteYAML(&out, results)).To(Succeed())
		GinkgoWriter.Println(out.String())

		By("applying the output")
		start := len(tenant.Requests())
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out.String()), 4096)
		var applied []*v1alpha1.Auth0User
		for {
			obj := &v1alpha1.Auth0User{}
			if err := dec.Decode(obj); errors.Is(err, io.EOF) {
				break
			} else {
				Expect(err).NotTo(HaveOccurred())
			}
			if obj.Name == "" {
				continue
			}
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			applied = append(applied, obj)
		}
		Expect(applied).To(HaveLen(3))
		for _, obj := range applied {
			got := readyUser(obj)
			Expect(ids).To(ContainElement(got.Status.UserID))
		}
		var writes []string
		for _, line := range tenant.Requests()[start:] {
			if !strings.HasPrefix(line, "GET ") {
				for _, id := range ids {
					if strings.Contains(line, strings.ReplaceAll(id, "|", "%7C")) {
						writes = append(writes, line)
					}
				}
			}
		}
		Expect(writes).To(BeEmpty(), "applying the export must not write to Auth0")
		Expect(tenant.User(ids[0])["user_metadata"]).To(Equal(map[string]any{"theme": "dark", "prefs": map[string]any{"lang": "fr"}}))
	})
})
