# Python memori's command line (`memori -d DIR COMMAND...`), run from ../shared/peers/memori
# without installing it, for the skipped-call row of the benchmark.
# usage: python3 python-cli.py PEER_DIR -d DIR COMMAND...
import sys

sys.path.insert(0, sys.argv[1])
sys.argv = ["memori", *sys.argv[2:]]
from memori.scripts.memori import main  # noqa: E402

main()
