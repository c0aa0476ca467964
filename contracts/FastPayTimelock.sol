// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title FastPayTimelock
/// @notice OpenZeppelin's TimelockController, the DEFAULT_ADMIN_ROLE of every FastPay
///         contract: every admin power (wiring roles, tokens, committee, epochs, parameters,
///         migration, unpause, admin transfer) is a proposal that waits `getMinDelay()`
///         before anyone holding EXECUTOR_ROLE can execute it. Proposers (PROPOSER_ROLE,
///         also CANCELLER_ROLE) are the deployer in development, a multisig in production.
/// @dev Two additions to the OpenZeppelin contract:
///      - a floor: the delay is never below MIN_DELAY (constructor and updateDelay);
///      - a one-time bootstrap: until `endBootstrap()`, the deploying account
///        (`bootstrapper`) may make calls as the timelock without delay, so that
///        scripts/deploy.py lists the tokens, wires the roles and installs the first
///        committee in the same run. `endBootstrap()` closes it for good
///        (`bootstrapper == address(0)`): check it before trusting a deployment.
contract FastPayTimelock is TimelockController {
    uint256 public constant MIN_DELAY = 1 days;

    /// @notice The account that may still call as the timelock without delay (0 = nobody, for good).
    address public bootstrapper;

    event BootstrapCall(address indexed target, uint256 value, bytes data);
    event BootstrapEnded(address bootstrapper);

    error DelayBelowFloor(uint256 given, uint256 floor);
    error NotBootstrapper(address caller);
    error LengthMismatch();
    error ValueMismatch(uint256 given, uint256 expected);

    /// @param minDelay Delay of every operation, in seconds (>= MIN_DELAY).
    /// @param proposers Accounts that propose and cancel (PROPOSER_ROLE, CANCELLER_ROLE).
    /// @param executors Accounts that execute ready operations (address(0) = anyone).
    /// @param bootstrapper_ The deploying account (see the contract's notes); 0 for none.
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address bootstrapper_
    ) TimelockController(minDelay, proposers, executors, address(0)) {
        if (minDelay < MIN_DELAY) revert DelayBelowFloor(minDelay, MIN_DELAY);
        bootstrapper = bootstrapper_;
    }

    /// @inheritdoc TimelockController
    function updateDelay(uint256 newDelay) public override {
        if (newDelay < MIN_DELAY) revert DelayBelowFloor(newDelay, MIN_DELAY);
        super.updateDelay(newDelay);
    }

    /// @notice During the bootstrap only: call `targets[i]` with `values[i]` and
    ///         `payloads[i]` as the timelock, at once. `msg.value` must be the sum of values.
    function bootstrap(address[] calldata targets, uint256[] calldata values, bytes[] calldata payloads)
        external
        payable
    {
        if (msg.sender != bootstrapper || msg.sender == address(0)) revert NotBootstrapper(msg.sender);
        if (targets.length != values.length || targets.length != payloads.length) revert LengthMismatch();
        uint256 total;
        for (uint256 i = 0; i < targets.length; ++i) {
            total += values[i];
        }
        if (total != msg.value) revert ValueMismatch(msg.value, total);
        for (uint256 i = 0; i < targets.length; ++i) {
            emit BootstrapCall(targets[i], values[i], payloads[i]);
            _execute(targets[i], values[i], payloads[i]);
        }
    }

    /// @notice End the bootstrap for good: from now on every call waits for the delay.
    function endBootstrap() external {
        if (msg.sender != bootstrapper || msg.sender == address(0)) revert NotBootstrapper(msg.sender);
        bootstrapper = address(0);
        emit BootstrapEnded(msg.sender);
    }
}
