from server.commands import main

main()
