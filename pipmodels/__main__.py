from pipmodels.entry import main

main()
