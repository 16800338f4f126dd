# pgml: `make demo` sets everything up and trains/predicts on real data; `make test` runs
# every test. Both are idempotent and install what they need (Debian 12).
SHELL := /bin/bash

.PHONY: all deps install demo test package stop psql golden-update clean
all: demo

deps:
	scripts/setup.sh

install: deps
	scripts/install.sh

demo: install
	scripts/demo.sh

test: deps
	scripts/test.sh

# dist/postgresql-15-pgml_<version>_amd64.deb (README.md, section Install from a package).
package: deps
	scripts/package.sh

stop:
	scripts/cluster.sh stop

psql:
	scripts/cluster.sh psql

# After an intended change of output: copy the last golden run's results over the expected files.
golden-update:
	cp /var/tmp/pgml-regress/results/*.out tests/expected/
	if [ -d /var/tmp/pgml-regress/isolation/results ]; then cp /var/tmp/pgml-regress/isolation/results/*.out tests/isolation/expected/; fi

clean: stop
	rm -rf .pgml-data
