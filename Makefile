# A thin wrapper around meson, so that one command does all the set-up on a
# Debian 12 machine: `make demo` and `make test`. On a fresh one, which has no
# make, ./quickstart (README's quick start) installs it and runs them.
BUILD ?= build
PREFIX ?= $(CURDIR)/_install
MESON_OPTS ?=
DEMO_DIR ?= $(CURDIR)

DEBS = meson ninja-build pkg-config gcc libc6-dev git curl python3 ca-certificates tzdata openssl \
       libuv1-dev libcurl4-openssl-dev libgit2-dev libjansson-dev libyaml-dev \
       libpcre2-dev libcmocka-dev libhttp-parser-dev libssl-dev zlib1g-dev libpoppler-glib-dev \
       lighttpd lighttpd-mod-openssl openssh-server openssh-client \
       systemd groff-base man-db strace procps prometheus \
       chromium fonts-wqy-zenhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build demo test install clean

all: build

# Install the Debian packages that are missing (apt-get only when needed).
deps:
	@missing=$$(for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) $(MESON_OPTS)

build: deps
	@$(MAKE) --no-print-directory $(BUILD)/build.ninja
	meson compile -C $(BUILD)

install: build
	meson install -C $(BUILD) --quiet

demo: install
	cd $(DEMO_DIR) && $(PREFIX)/bin/duikou demo

test: build
	meson test -C $(BUILD) --print-errorlogs

clean:
	rm -rf $(BUILD) $(PREFIX)
