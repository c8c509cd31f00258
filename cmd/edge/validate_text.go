package main

import "github.com/edge-server/edge/static"

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func staticRoot(s *static.Config) string {
	if s == nil {
		return ""
	}
	if s.SPA {
		return s.Root + " (spa)"
	}
	return s.Root
}

func routeTarget(app, handler string, static bool, root string) string {
	switch {
	case app != "":
		return "app " + app
	case handler != "":
		return handler
	case static:
		return "static " + root
	}
	return "nothing"
}
