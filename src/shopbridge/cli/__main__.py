from shopbridge.cli.main import main

main()
