from ublexport.cli import main

main()
