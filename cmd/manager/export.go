package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/export"
)

// runExport implements `auth0-operator export`: it writes Auth0User YAML for the users a query
// selects, to standard output.
func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	domain := fs.String("domain", os.Getenv("AUTH0_DOMAIN"), "tenant domain (default $AUTH0_DOMAIN)")
	clientID := fs.String("client-id", os.Getenv("AUTH0_CLIENT_ID"), "client id (default $AUTH0_CLIENT_ID)")
	secretEnv := fs.String("client-secret-env", "AUTH0_CLIENT_SECRET", "environment variable holding the client secret (never a flag: flags show in ps)")
	caFile := fs.String("ca-file", "", "PEM of the only CA to trust (the emulator's)")
	query := fs.String("query", "", "users search (Lucene, search engine v3), e.g. 'app_metadata.team:platform'")
	limit := fs.Int("limit", 1000, "export at most this many users (Auth0's search window is 1000)")
	namespace := fs.String("namespace", "default", "namespace of the objects")
	tenantSecret := fs.String("tenant-secret", "", "tenant Secret the objects name in spec.tenantRef; empty: the operator's default tenant")
	clusterName := fs.String("cluster-name", "default", "the operator's --cluster-name, for the claims")
	claim := fs.Bool("claim", true, "mark each exported user as managed by its object, so that applying the output writes nothing to Auth0")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: auth0-operator export --query QUERY [flags] > users.yaml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *query == "" || *domain == "" || *clientID == "" {
		fs.Usage()
		return errors.New("--query, --domain and --client-id are required")
	}
	tenant := auth0.Tenant{Domain: *domain, ClientID: *clientID, ClientSecret: os.Getenv(*secretEnv)}
	if tenant.ClientSecret == "" {
		return fmt.Errorf("the client secret is not in $%s", *secretEnv)
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		tenant.CACertPEM = pem
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := auth0.NewProvider(auth0.ProviderOptions{}).ClientFor(ctx, tenant)
	if err != nil {
		return err
	}
	results, err := export.Users(ctx, c, export.Options{
		Query: *query, Limit: *limit, Namespace: *namespace, TenantSecret: *tenantSecret,
		ClusterName: *clusterName, Claim: *claim,
	})
	if err != nil {
		return err
	}
	return export.WriteYAML(os.Stdout, results)
}
