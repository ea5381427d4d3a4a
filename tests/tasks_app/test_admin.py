"""Django admin per organization: an org admin sees and edits only their organization's objects."""

import pytest
from django.urls import reverse

from tasks_app.models import ApiKey, Membership, Organization, Task
from tests.factories import MembershipFactory, TaskFactory, UserFactory


@pytest.fixture
def admin_client_org(client, org_admin):
    client.force_login(org_admin)
    return client


@pytest.fixture
def world(org, other_org, outsider):
    mine = TaskFactory(organization=org, title="mine", status=Task.Status.RUNNING)
    theirs = TaskFactory(organization=other_org, title="theirs", status=Task.Status.RUNNING)
    their_member = Membership.objects.get(user=outsider)
    return {"mine": mine, "theirs": theirs, "their_member": their_member}


@pytest.mark.django_db
def test_changelists_show_only_own_org(admin_client_org, world, org, other_org):
    page = admin_client_org.get(reverse("admin:tasks_app_task_changelist")).content.decode()
    assert "mine" in page and "theirs" not in page
    # the organization filter lists only organizations the admin can see
    assert org.name in page and other_org.name not in page
    page = admin_client_org.get(reverse("admin:tasks_app_organization_changelist")).content.decode()
    assert org.name in page and other_org.name not in page


@pytest.mark.django_db
def test_filtering_by_another_org_shows_nothing(admin_client_org, world, other_org):
    url = reverse("admin:tasks_app_task_changelist") + f"?organization__id__exact={other_org.pk}"
    response = admin_client_org.get(url)
    assert "theirs" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "key"),
    [("tasks_app_task_change", "theirs"), ("tasks_app_membership_change", "their_member")],
)
def test_other_orgs_objects_are_404(admin_client_org, world, name, key):
    response = admin_client_org.get(reverse(f"admin:{name}", args=[world[key].pk]))
    assert response.status_code == 404


@pytest.mark.django_db
def test_other_org_itself_is_404(admin_client_org, other_org):
    assert admin_client_org.get(reverse("admin:tasks_app_organization_change", args=[other_org.pk])).status_code == 404


@pytest.mark.django_db
def test_autocomplete_only_offers_own_members(admin_client_org, org, outsider, operator):
    url = reverse("admin:autocomplete") + "?app_label=tasks_app&model_name=membership&field_name=user&term="
    response = admin_client_org.get(url)
    assert response.status_code == 200
    names = {r["text"] for r in response.json()["results"]}
    assert operator.username in names and outsider.username not in names


@pytest.mark.django_db
def test_cannot_move_a_membership_into_another_org(admin_client_org, org, other_org, operator):
    membership = Membership.objects.get(user=operator)
    url = reverse("admin:tasks_app_membership_change", args=[membership.pk])
    response = admin_client_org.post(url, {"user": operator.pk, "organization": other_org.pk, "role": "operator"})
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).organization == org


@pytest.mark.django_db
def test_cannot_create_api_key_in_another_org(admin_client_org, other_org):
    response = admin_client_org.post(
        reverse("admin:tasks_app_apikey_add"), {"organization": other_org.pk, "name": "sneaky", "role": "operator"}
    )
    assert response.status_code == 200 and not ApiKey.objects.exists()


@pytest.mark.django_db
def test_api_key_created_in_admin_is_shown_once(admin_client_org, org):
    response = admin_client_org.post(
        reverse("admin:tasks_app_apikey_add"), {"organization": org.pk, "name": "ci", "role": "operator"}, follow=True
    )
    text = response.content.decode()
    key = ApiKey.objects.get()
    assert "not shown again" in text and key.prefix in text and key.hashed_key not in text


@pytest.mark.django_db
def test_task_actions_call_services(admin_client_org, world):
    url = reverse("admin:tasks_app_task_changelist")
    admin_client_org.post(url, {"action": "pause", "_selected_action": [world["mine"].pk]})
    assert Task.objects.get(pk=world["mine"].pk).status == "paused"
    # another org's id smuggled into the selection is ignored (the action queryset is scoped)
    admin_client_org.post(url, {"action": "terminate", "_selected_action": [world["theirs"].pk]})
    assert Task.objects.get(pk=world["theirs"].pk).status == "running"
    response = admin_client_org.post(url, {"action": "cancel", "_selected_action": [world["mine"].pk]}, follow=True)
    assert "cannot cancel a task that is paused" in response.content.decode()


@pytest.mark.django_db
def test_non_admin_members_get_no_admin(client, operator):
    operator.is_staff = True
    operator.save()
    client.force_login(operator)
    assert client.get(reverse("admin:tasks_app_task_changelist")).status_code == 403


@pytest.mark.django_db
def test_org_admin_cannot_edit_limits_of_other_org_or_add_orgs(admin_client_org, org, other_org):
    assert admin_client_org.get(reverse("admin:tasks_app_organization_add")).status_code == 403
    url = reverse("admin:tasks_app_organization_change", args=[org.pk])
    data = {
        "name": org.name, "max_steps_per_run": 7, "max_retries_per_step": 2, "webhook_secret": org.webhook_secret,
        "record_runs": "on", "max_concurrent_runs": 3,
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    }
    response = admin_client_org.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Organization.objects.get(pk=org.pk).max_steps_per_run == 7
    assert Organization.objects.get(pk=org.pk).max_concurrent_runs == 3  # the run limit is the org admin's to set


@pytest.mark.django_db
def test_superuser_sees_everything(client, superuser, world):
    client.force_login(superuser)
    page = client.get(reverse("admin:tasks_app_task_changelist")).content.decode()
    assert "mine" in page and "theirs" in page


@pytest.mark.django_db
def test_user_admin_is_scoped(admin_client_org, outsider, operator):
    page = admin_client_org.get(reverse("admin:auth_user_changelist")).content.decode()
    assert operator.username in page and outsider.username not in page
    assert admin_client_org.get(reverse("admin:auth_user_change", args=[outsider.pk])).status_code in (403, 404)
    UserFactory(username="loner")
    assert "loner" not in admin_client_org.get(reverse("admin:auth_user_changelist")).content.decode()
    MembershipFactory  # noqa: B018


@pytest.mark.django_db
def test_admin_shows_a_task_awaiting_input_and_its_question(admin_client_org, org):
    from tasks_app import services

    task = services.request_input(task=TaskFactory(organization=org, status=Task.Status.RUNNING), question="Which plan?")
    listing = admin_client_org.get(reverse("admin:tasks_app_task_changelist") + "?status__exact=awaiting_input")
    assert listing.status_code == 200 and str(task) in listing.content.decode()
    page = admin_client_org.get(reverse("admin:tasks_app_task_change", args=[task.pk])).content.decode()
    assert "awaiting_input" in page or "Awaiting Input" in page
    assert "Which plan?" in page
