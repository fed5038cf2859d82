from services.billing_monitor.app import main

main()
