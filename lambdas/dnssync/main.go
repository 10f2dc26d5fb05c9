// Command dnssync keeps a public DNS A record pointing at the private
// addresses of the hosts running the ftps3 gateway (see package reconcile).
//
// In AWS Lambda (provided.al2023) it handles EventBridge events: ECS Task
// State Change for the gateway's service, and a schedule. For operators it
// also runs locally with the default AWS credentials:
//
//	dnssync -once            reconcile once and print the decision
//	dnssync -once -dry-run   print what would change, change nothing
//
// Configuration: CLUSTER, SERVICE, HOSTED_ZONE_ID, RECORD_NAME, TTL, SOURCE,
// REQUIRE_HEALTHY, CLOUDMAP_NAMESPACE, CLOUDMAP_SERVICE (see the README).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/ftps3/ftps3/lambdas/dnssync/reconcile"
)

func main() {
	once := flag.Bool("once", false, "reconcile once with the default AWS credentials and print the result")
	dryRun := flag.Bool("dry-run", false, "with -once: decide, but do not change the record")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := reconcile.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "err", err.Error())
		os.Exit(2)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("AWS configuration", "err", err.Error())
		os.Exit(2)
	}
	clients := reconcile.Clients{
		ECS: ecs.NewFromConfig(awsCfg), EC2: ec2.NewFromConfig(awsCfg), Route53: route53.NewFromConfig(awsCfg),
	}
	if cfg.CloudMapNamespace != "" {
		clients.CloudMap = servicediscovery.NewFromConfig(awsCfg)
	}
	r := reconcile.New(cfg, clients, log, os.Stdout)

	if !*once {
		lambda.Start(func(ctx context.Context, event json.RawMessage) (reconcile.Result, error) {
			return r.Handle(ctx, event)
		})
		return
	}
	r.DryRun = *dryRun
	res, err := r.Run(context.Background(), "manual")
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	if err != nil {
		log.Error("reconcile", "err", err.Error())
		os.Exit(1)
	}
}
