# prepare-guest (Windows): collect OS facts and the machine's identity (SMBIOS UUID, host name, IPs, disks) and,
# when discovery needs it, enable WinRM over HTTP on 5985.
# The WinRM state before the change (service start mode and status, whether an HTTP listener existed, the
# firewall rule state) is recorded once under %ProgramData%\ec2-to-azure so revert-guest can restore it.
# Idempotent. Parameters come from SSM as environment variables ($env:SSM_<Name>). Last stdout line: JSON.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$discovery = if ($env:SSM_Discovery) { $env:SSM_Discovery } else { 'false' }
$migrationId = "$env:SSM_MigrationId"
if ($discovery -notmatch '^(true|false)$') { throw 'Discovery must be true or false' }
if ($migrationId -notmatch '^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$') { throw 'MigrationId is missing or malformed' }

$stateDir = Join-Path $env:ProgramData 'ec2-to-azure'
$stateFile = Join-Path $stateDir 'winrm-original.json'
New-Item -ItemType Directory -Force -Path $stateDir | Out-Null
$changed = @()

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$facts = [ordered]@{
    script       = 'prepare-guest-windows'
    migration_id = $migrationId
    os_name      = $os.Caption
    os_version   = $os.Version
    build        = $os.BuildNumber
    architecture = $os.OSArchitecture
}

function Get-HttpListener {
    Get-ChildItem -Path WSMan:\localhost\Listener -ErrorAction SilentlyContinue |
        Where-Object { $_.Keys -contains 'Transport=HTTP' }
}

$discoveryEnabled = $false
if ($discovery -eq 'true') {
    $service = Get-Service -Name WinRM
    if (-not (Test-Path $stateFile)) {
        $rule = Get-NetFirewallRule -Name 'WINRM-HTTP-In-TCP' -ErrorAction SilentlyContinue
        [ordered]@{
            service_start_type = "$($service.StartType)"
            service_status     = "$($service.Status)"
            http_listener      = [bool](Get-HttpListener)
            firewall_rule      = if ($rule) { "$($rule.Enabled)" } else { 'absent' }
        } | ConvertTo-Json -Compress | Set-Content -Path $stateFile -Encoding UTF8
    }
    if ($service.StartType -ne 'Automatic') { Set-Service -Name WinRM -StartupType Automatic; $changed += 'winrm_automatic' }
    if ($service.Status -ne 'Running') { Start-Service -Name WinRM; $changed += 'winrm_started' }
    if (-not (Get-HttpListener)) {
        New-Item -Path WSMan:\localhost\Listener -Transport HTTP -Address * -Force | Out-Null
        $changed += 'winrm_http_listener'
    }
    $rule = Get-NetFirewallRule -Name 'WINRM-HTTP-In-TCP' -ErrorAction SilentlyContinue
    if (-not $rule) {
        New-NetFirewallRule -Name 'WINRM-HTTP-In-TCP' -DisplayName 'Windows Remote Management (HTTP-In)' `
            -Direction Inbound -Protocol TCP -LocalPort 5985 -Action Allow | Out-Null
        $changed += 'winrm_firewall_rule'
    } elseif ("$($rule.Enabled)" -ne 'True') {
        Enable-NetFirewallRule -Name 'WINRM-HTTP-In-TCP'
        $changed += 'winrm_firewall_rule'
    }
    $discoveryEnabled = $true
}

# Identity: what Azure Migrate's discovery reports for this machine (read only). The SMBIOS system UUID from
# Win32_ComputerSystemProduct; each disk's SerialNumber from Get-Disk (on Nitro, the EBS volume id without its
# hyphen, possibly followed by a suffix); the OS disk is the one Windows boots from or keeps its system on.
$product = Get-CimInstance -ClassName Win32_ComputerSystemProduct
$addresses = @(Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue |
    Where-Object { $_.IPAddress -notlike '127.*' -and $_.IPAddress -notlike '169.254.*' } |
    ForEach-Object { $_.IPAddress } | Sort-Object -Unique)
$disks = @(Get-Disk | Sort-Object -Property Number | ForEach-Object {
    [ordered]@{
        device     = "\\.\PHYSICALDRIVE$($_.Number)"
        serial     = "$($_.SerialNumber)".Trim()
        size_bytes = [int64]$_.Size
        is_os_disk = [bool]($_.IsBoot -or $_.IsSystem)
    }
})
$facts['identity'] = [ordered]@{
    bios_id      = "$($product.UUID)".ToLowerInvariant()
    hostname     = $env:COMPUTERNAME
    ip_addresses = $addresses
    disks        = $disks
}
$facts['discovery_enabled'] = $discoveryEnabled
$facts['changed'] = @($changed)
$facts | ConvertTo-Json -Compress -Depth 5
