// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken (tests only)
/// @notice A hostile 6-decimal token: on every transfer it calls back `target` with
///         `payload` (e.g. the vault's withdraw) and records whether the call succeeded.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool public attackSucceeded;
    bytes public attackRevertData;
    uint256 public attempts;

    constructor() ERC20("Hostile", "HOST") {}

    /// @notice Mint `amount` base units to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arm the attack: every later transfer calls `target_` with `payload_`.
    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    /// @notice 6 decimals.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (target != address(0)) {
            address t = target;
            target = address(0); // one attempt per arming
            ++attempts;
            (bool ok, bytes memory data) = t.call(payload);
            attackSucceeded = ok;
            attackRevertData = data;
        }
    }
}
