from services.contract_state.app import main

main()
