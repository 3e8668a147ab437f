from vggdeploy.cli import run

run()
