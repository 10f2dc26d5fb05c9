package reconcile

import (
	"encoding/json"
	"fmt"
)

// Trigger names the event that started a run, for the logs. An event that
// cannot be read still triggers a run: the run does not depend on it.
func Trigger(raw json.RawMessage) string {
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			TaskArn       string `json:"taskArn"`
			LastStatus    string `json:"lastStatus"`
			DesiredStatus string `json:"desiredStatus"`
		} `json:"detail"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &ev) != nil {
		return "manual"
	}
	switch {
	case ev.Source == "aws.ecs" && ev.DetailType == "ECS Task State Change":
		return fmt.Sprintf("ecs task %s %s (desired %s)", ev.Detail.TaskArn, ev.Detail.LastStatus, ev.Detail.DesiredStatus)
	case ev.DetailType == "Scheduled Event":
		return "schedule"
	case ev.Source != "":
		return ev.Source + " " + ev.DetailType
	}
	return "manual"
}

// taskStarted tells whether the event says an ECS task of the service is
// now RUNNING (and meant to run).
func taskStarted(raw json.RawMessage) bool {
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			LastStatus    string `json:"lastStatus"`
			DesiredStatus string `json:"desiredStatus"`
		} `json:"detail"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return false
	}
	return ev.Source == "aws.ecs" && ev.DetailType == "ECS Task State Change" &&
		ev.Detail.LastStatus == "RUNNING" && ev.Detail.DesiredStatus == "RUNNING"
}
