package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/config"
)

// loadUsers reads the user list from its sources (the environment, the
// file, the secret) and returns the users and the reloader that keeps them
// current; the first load must succeed.
func loadUsers(ctx context.Context, cfg *config.Config, log *slog.Logger) (*auth.Users, *auth.Reloader, error) {
	sources := []auth.Source{auth.StaticSource{Users: cfg.StaticUsers}}
	if cfg.UsersFile != "" {
		sources = append(sources, auth.FileSource{Path: cfg.UsersFile})
	}
	if cfg.UsersSecretID != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx) // the task role in ECS
		if err != nil {
			return nil, nil, fmt.Errorf("FTP_USERS_SECRET_ID: AWS configuration: %w", err)
		}
		sources = append(sources, auth.SecretSource{API: secretsmanager.NewFromConfig(awsCfg), SecretID: cfg.UsersSecretID})
	}
	users, err := auth.NewUsers(nil)
	if err != nil {
		return nil, nil, err
	}
	r := &auth.Reloader{Users: users, Sources: sources, Log: log}
	if _, err := r.Reload(ctx); err != nil {
		return nil, nil, fmt.Errorf("users: %w", err)
	}
	return users, r, nil
}

// reloadUsers runs the reloader until ctx ends: every
// FTP_USERS_RELOAD_INTERVAL and on SIGHUP.
func reloadUsers(ctx context.Context, cfg *config.Config, r *auth.Reloader) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	trigger := make(chan struct{})
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case trigger <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	r.Run(ctx, cfg.UsersReloadInterval, trigger)
}
