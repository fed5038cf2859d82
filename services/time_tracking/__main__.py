from services.time_tracking.app import main

main()
