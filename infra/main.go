// Command infra is the ftps3 CDK app: `go run ./infra` synthesizes the stack
// into cdk.out; `npx aws-cdk deploy` (cdk.json) deploys it. Configuration is
// CDK context (cdk.json or -c key=value); see README.md, Deploy.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/ftps3/ftps3/infra/settings"
	"github.com/ftps3/ftps3/infra/stack"
)

func main() {
	defer jsii.Close()
	props := &awscdk.AppProps{Context: localContext()}
	if os.Getenv("CDK_OUTDIR") == "" {
		props.Outdir = jsii.String("cdk.out")
	}
	app := awscdk.NewApp(props)
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "ftps3: invalid CDK context:\n%v\n", err)
		jsii.Close()
		os.Exit(1)
	}
	s, err := settings.Parse(func(key string) any { return app.Node().TryGetContext(&key) })
	if err != nil {
		fail(err)
	}
	var env *awscdk.Environment
	if account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); account != "" && region != "" {
		env = &awscdk.Environment{Account: &account, Region: &region}
	}
	if _, err := stack.New(app, stack.Props{Settings: s, RepoRoot: ".", Env: env}); err != nil {
		fail(err)
	}
	stack.Nag(app)
	app.Synth(nil)
}

// localContext reads cdk.json's context when the app runs without the CDK
// CLI (`go run ./infra`); the CLI passes it itself.
func localContext() *map[string]any {
	if os.Getenv("CDK_CONTEXT_JSON") != "" {
		return nil
	}
	data, err := os.ReadFile("cdk.json")
	if err != nil {
		return nil
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "cdk.json: %v\n", err)
		os.Exit(1)
	}
	return &cfg.Context
}
