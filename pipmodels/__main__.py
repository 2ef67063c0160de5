from pipmodels.cli import main

main()
