from warden.cli import main

main()
